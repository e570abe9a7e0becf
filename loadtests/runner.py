"""``opencode-sidecar load``: run a Locust profile against a sidecar, sample the target, and
recommend pod resources. Locust always runs as a subprocess (locally, or as master + K
workers: Locust's own distributed mode)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.growth import Growth
from loadtests.locust_settings import LocustSettings
from loadtests.profiles import load_profiles
from loadtests.report import headline, read_stats, write_report
from loadtests.sampler import ProcessSampler, Sample, cgroup_limits
from loadtests.sizing import Recommendation, recommend
from suites.clientkit.harness import fake_model_server, reference_argv, start_server

MAX_USERS = 500
MAX_DURATION = 1800.0
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LoadError(Exception):
    """A one-line message naming the fix; exit code 2."""


@dataclass(frozen=True)
class LoadOptions:
    profile: str
    target: str | None = None
    """``None`` with ``spawn``: start the reference sidecar on 127.0.0.1."""
    users: int = 10
    duration: float = 60.0
    pid: int | None = None
    spawn: bool = False
    runtime: str = "fake"
    workers: int = 0
    out: Path = Path("load-report")
    secret: str | None = None
    model_endpoint: str | None = None
    max_sessions: int = 5
    check_limits: bool = False
    horizon_hours: float = 24.0
    """Hours of growth folded into the memory limit."""
    warmup: float | None = None
    """Seconds of warm-up before growth is fitted; ``None``: the first third of the run."""

    def check(self) -> None:
        if self.profile not in load_profiles():
            raise LoadError(
                f"unknown profile {self.profile!r}; choose one of {', '.join(load_profiles())}"
            )
        if not 1 <= self.users <= MAX_USERS:
            raise LoadError(f"--users must be 1..{MAX_USERS}")
        if not 5 <= self.duration <= MAX_DURATION:
            raise LoadError(f"--duration must be 5..{MAX_DURATION:g} seconds")
        if not 0 < self.horizon_hours <= 24 * 365:
            raise LoadError("--horizon must be 0..8760 hours")
        if self.warmup is not None and not 0 <= self.warmup < self.duration:
            raise LoadError("--warmup must be 0 or more seconds, shorter than --duration")
        if not 0 <= self.workers <= 16:
            raise LoadError("--workers must be 0..16")
        if self.spawn == (self.target is not None):
            raise LoadError("give either --target URL (and --pid to sample it) or --spawn")
        if self.target and not self.target.startswith(("http://", "https://")):
            raise LoadError(f"--target {self.target!r} is not a URL (try http://127.0.0.1:3003)")


@contextmanager
def _spawned(opts: LoadOptions, model: str, work: Path) -> Iterator[tuple[str, int]]:
    argv = reference_argv(
        work / "workspace", "--runtime", opts.runtime, "--max-sessions", str(opts.max_sessions)
    )
    with start_server(argv, timeout=60) as server:
        yield server.url, server.process.pid


def _locust(
    opts: LoadOptions, url: str, model: str, out: Path, environ: Mapping[str, str]
) -> list[subprocess.Popen[bytes]]:
    told = LocustSettings(opts.profile, model, opts.duration, opts.users, opts.secret)
    env = {**environ, **told.environment()}
    base = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        url,
        "--skip-log-setup",
        "--loglevel",
        "WARNING",
    ]
    log = (out / "locust.log").open("wb")
    common = {"env": env, "stdout": log, "stderr": subprocess.STDOUT}
    master_args = [
        "--headless",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--html",
        str(out / "locust.html"),
    ]
    if opts.workers == 0:
        return [subprocess.Popen(base + master_args, **common)]  # type: ignore[call-overload]
    port = _free_port()
    master = subprocess.Popen(  # type: ignore[call-overload]
        base
        + master_args
        + [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(opts.workers),
        ],
        **common,
    )
    workers = [
        subprocess.Popen(  # type: ignore[call-overload]
            [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)], **common
        )
        for _ in range(opts.workers)
    ]
    return [master, *workers]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _progress(sampler: ProcessSampler, started: float, say: object) -> None:
    last: Sample | None = sampler.samples[-1] if sampler.samples else None
    if last is not None and callable(say):
        say(
            f"  {time.monotonic() - started:5.0f} s  cpu {last.cpu_cores * 1000:6.0f}m  "
            f"rss {last.rss_mib:6.0f} MiB  sessions {last.active_sessions or 0:3.0f}  "
            f"streams {last.active_streams or 0:4.0f}"
        )


def _run_once(
    opts: LoadOptions,
    url: str,
    pid: int | None,
    model: str,
    out: Path,
    say: object,
    environ: Mapping[str, str],
    watch_limit_mib: float | None = None,
) -> list[Sample]:
    sampler = ProcessSampler(pid, url, opts.secret).start()
    processes = _locust(opts, url, model, out, environ)
    started = time.monotonic()
    deadline = started + opts.duration + 60
    try:
        while processes[0].poll() is None:
            if time.monotonic() > deadline:
                raise LoadError("Locust did not stop in time; see locust.log")
            time.sleep(5)
            _progress(sampler, started, say)
            if (
                watch_limit_mib
                and sampler.samples
                and sampler.samples[-1].rss_mib > watch_limit_mib
            ):
                break
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            process.wait(30)
    return sampler.stop()


def limit_check_plan(
    duration: float, limit_mib: float, rss_mib: float, growth: Growth | None
) -> tuple[float, float | None, str]:
    """How long a limit check runs: long enough to reach ``limit_mib`` from ``rss_mib`` at
    the measured growth rate (at least the first run's length, at most MAX_DURATION).
    Returns (seconds, seconds to reach the limit or None, a note)."""
    rate = growth.mib_per_hour / 3600 if growth is not None and growth.significant else 0.0
    if rate <= 0:
        return duration, None, "no significant growth: checked for the first run's length"
    reach = max(0.0, (limit_mib - rss_mib) / rate)
    if reach > MAX_DURATION:
        return (
            max(duration, MAX_DURATION),
            reach,
            f"could not reach the limit: at {growth.mib_per_hour if growth else 0:.0f} MiB/h it "
            f"is {reach / 3600:.1f} h away, beyond a run's {MAX_DURATION:g} s bound",
        )
    return max(duration, reach * 1.1), reach, f"runs past the {reach:.0f} s the growth needs"


def _check_limits(
    opts: LoadOptions,
    recommendation: Recommendation,
    samples: list[Sample],
    url: str,
    pid: int | None,
    model: str,
    say: object,
    environ: Mapping[str, str],
) -> dict[str, object]:
    """Re-run under a watchdog at the recommended memory limit."""
    if recommendation.memory_limit_mi is None:
        return {"held": None, "note": f"no memory limit to check: {recommendation.refused}"}
    limit = float(recommendation.memory_limit_mi)
    rss = samples[-1].rss_mib if samples else 0.0
    seconds, reach, note = limit_check_plan(opts.duration, limit, rss, recommendation.growth)
    check_out = opts.out / "limit-check"
    check_out.mkdir(exist_ok=True)
    if callable(say):
        say(f"Limit check at {limit:.0f} MiB for {seconds:.0f} s ({note})")
    again = _run_once(
        replace(opts, duration=seconds),
        url,
        pid,
        model,
        check_out,
        say,
        environ,
        watch_limit_mib=limit,
    )
    peak = max((s.rss_mib for s in again), default=0.0)
    return {
        "memory_limit_mib": limit,
        "peak_rss_mib": peak,
        "held": peak <= limit,
        "duration_s": round(seconds, 1),
        "reaches_limit_after_s": None if reach is None else round(reach, 1),
        "note": note,
    }


def run_load(
    opts: LoadOptions, environ: Mapping[str, str], say: object = print
) -> dict[str, object]:
    """Run the profile; write the report into ``opts.out``; return the headline figures.
    ``environ``: the environment Locust runs in (the caller's; the settings are added)."""
    opts.check()
    host = urlsplit(opts.target).hostname if opts.target else "127.0.0.1"
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocs-load-")))
        model = opts.model_endpoint or stack.enter_context(fake_model_server()).url
        pid: int | None
        if opts.spawn:
            url, pid = stack.enter_context(_spawned(opts, model, work))
        else:
            url, pid = str(opts.target).rstrip("/"), opts.pid
        if callable(say):
            say(
                f"Load profile {opts.profile} against {url} ({host}): {opts.users} users, "
                f"{opts.duration:g} s, {opts.workers} workers"
            )
        samples = _run_once(opts, url, pid, model, out, say, environ)
        recommendation = recommend(samples, opts.max_sessions, opts.horizon_hours, opts.warmup)
        run = {
            "profile": opts.profile,
            "target": url,
            "users": opts.users,
            "duration": opts.duration,
            "workers": opts.workers,
            "options": {k: str(v) for k, v in asdict(opts).items()},
            "cgroup": cgroup_limits(),
        }
        if opts.check_limits and opts.spawn:
            run["limit_check"] = _check_limits(
                opts, recommendation, samples, url, pid, model, say, environ
            )
        write_report(out, run, samples, recommendation, opts.max_sessions)
    figures = headline(read_stats(out / "locust"), opts.duration)
    growth = recommendation.growth
    return {
        **figures,
        **recommendation.observed,
        "memory_per_session_mib": recommendation.memory_per_session_mib,
        "growth": growth.describe() if growth is not None else None,
        "rss_at": growth.rss_at if growth is not None else None,
        "refused": recommendation.refused,
        "resources": recommendation.resources_yaml(opts.max_sessions),
        "limit_check": run.get("limit_check"),
    }

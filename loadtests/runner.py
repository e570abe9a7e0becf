"""``opencode-sidecar load``: run a Locust profile against a sidecar, sample the target, and
recommend pod resources. Locust always runs as a subprocess (locally, or as master + K
workers: Locust's own distributed mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.profiles import load_profiles
from loadtests.report import headline, read_stats, write_report
from loadtests.sampler import ProcessSampler, Sample, cgroup_limits
from loadtests.sizing import recommend
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

    def check(self) -> None:
        if self.profile not in load_profiles():
            raise LoadError(
                f"unknown profile {self.profile!r}; choose one of {', '.join(load_profiles())}"
            )
        if not 1 <= self.users <= MAX_USERS:
            raise LoadError(f"--users must be 1..{MAX_USERS}")
        if not 5 <= self.duration <= MAX_DURATION:
            raise LoadError(f"--duration must be 5..{MAX_DURATION:g} seconds")
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


def _locust(opts: LoadOptions, url: str, model: str, out: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "LOAD_PROFILE": opts.profile,
        "MODEL_ENDPOINT": model,
        "LOAD_DURATION": str(opts.duration),
        "LOAD_USERS": str(opts.users),
        "SIDECAR_SECRET": opts.secret or "",
    }
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
    watch_limit_mib: float | None = None,
) -> list[Sample]:
    sampler = ProcessSampler(pid, url, opts.secret).start()
    processes = _locust(opts, url, model, out)
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


def run_load(opts: LoadOptions, say: object = print) -> dict[str, object]:
    """Run the profile; write the report into ``opts.out``; return the headline figures."""
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
        samples = _run_once(opts, url, pid, model, out, say)
        recommendation = recommend(samples, opts.max_sessions)
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
            check_out = out / "limit-check"
            check_out.mkdir(exist_ok=True)
            limit = float(recommendation.memory_limit_mi)
            again = _run_once(opts, url, pid, model, check_out, say, watch_limit_mib=limit)
            peak = max((s.rss_mib for s in again), default=0.0)
            run["limit_check"] = {
                "memory_limit_mib": limit,
                "peak_rss_mib": peak,
                "held": peak <= limit,
            }
        write_report(out, run, samples, recommendation, opts.max_sessions)
    figures = headline(read_stats(out / "locust"), opts.duration)
    return {
        **figures,
        **recommendation.observed,
        "memory_per_session_mib": recommendation.memory_per_session_mib,
        "resources": recommendation.resources_yaml(opts.max_sessions),
        "limit_check": run.get("limit_check"),
    }

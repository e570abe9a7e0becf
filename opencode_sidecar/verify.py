"""``opencode-sidecar verify``: run the suites against a sidecar and print a clause verdict."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from rich.table import Table

from suites import SUITES
from suites.harness import ServerStartError, reference_argv, start_server
from suites.outcomes import NOTE
from suites.report import load_report, write_report
from suites.supervisor import PORT_PLACEHOLDER, restart_command, supervised_argv
from suites.target import TargetOptions

STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "error": "yellow"}


class VerifyError(Exception):
    """One line for the user; exit code 2."""


@dataclass(frozen=True)
class VerifyOptions:
    target: TargetOptions | None
    """``None``: start the reference server (and the fake model) and verify them."""
    junit: Path | None = None
    report: Path | None = None
    only: str | None = None
    suites: tuple[str, ...] = SUITES
    runtime: str = "fake"
    verbose: bool = False
    strict: bool = False
    fuzz_max_examples: int | None = None
    soak_duration: float | None = None
    """Seconds of soak storm (``--soak``); ``None``: the soak suite's short default run."""


@dataclass(frozen=True)
class EmbeddedSettings:
    """How the embedded reference is started: short intervals so that every clause runs fast."""

    heartbeat_interval: float = 1.0
    session_timeout: float = 4.0
    max_sessions: int = 3


@contextmanager
def embedded_reference(runtime: str, workdir: Path) -> Iterator[TargetOptions]:
    settings = EmbeddedSettings()
    if runtime == "opencode":
        settings = replace(settings, session_timeout=30.0)
    secret = secrets.token_urlsafe(24)
    workspace = workdir / "workspace"
    state = workdir / "supervisor"
    inner = reference_argv(
        workspace,
        "--storage-dir",
        str(workdir / "storage"),
        "--runtime",
        runtime,
        "--heartbeat-interval",
        str(settings.heartbeat_interval),
        "--session-timeout",
        str(settings.session_timeout),
        "--max-sessions",
        str(settings.max_sessions),
        port=PORT_PLACEHOLDER,
    )
    argv = supervised_argv(state, inner)
    log = (workdir / "reference.log").open("w")
    # the secret in the environment, as deploy/ gives it (never in a command line: bash
    # could read that from /proc/PID/cmdline)
    env = {"OPENCODE_SHARED_SECRET": secret}
    try:
        with start_server(argv, env=env, stderr=log.fileno(), timeout=60) as server:
            yield TargetOptions(
                url=server.url,
                secret=secret,
                heartbeat_interval=settings.heartbeat_interval,
                session_timeout=settings.session_timeout,
                max_sessions=settings.max_sessions,
                workspace=workspace,
                restart_cmd=restart_command(state),
                # the supervised server's own pid (soak reads its fds and RSS); the soak
                # suite runs before durability restarts it
                pid=int((state / "pid").read_text()),
            )
    except ServerStartError as exc:
        log.close()
        raise VerifyError(startup_failure(Path(log.name))) from exc
    finally:
        log.close()


def startup_failure(log: Path) -> str:
    """One line: the reference's own last words, and a copy of its log that outlives the
    temporary directory (``workdir`` is removed when verify ends)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    own = [line for line in lines if line.startswith("opencode-sidecar:")]  # its CLI errors
    said = (own or lines or ["it printed nothing"])[-1]
    kept = Path(tempfile.mkstemp(prefix="ocs-verify-reference-", suffix=".log")[1])
    shutil.copyfile(log, kept)
    return f"the reference sidecar did not start: {said} (log: {kept})"


def check_reachable(target: TargetOptions) -> None:
    try:
        httpx.get(f"{target.url}/healthz", timeout=5.0)
    except httpx.HTTPError as exc:
        raise VerifyError(
            f"cannot reach the sidecar at {target.url} ({type(exc).__name__}); "
            "is it running? pass its base URL with --target"
        ) from None


UNUSED_PLUGINS = ("locust", "respx", "pact", "xdist", "xdist.looponfail", "anyio")
"""Installed pytest plugins no suite uses: not loading them saves seconds per run
(``locust``'s would also import gevent next to Schemathesis)."""
HYPOTHESIS_SUITES = frozenset({"fuzz", "lifecycle_model"})


def unused_plugins(suites: tuple[str, ...]) -> tuple[str, ...]:
    if HYPOTHESIS_SUITES & set(suites):
        return UNUSED_PLUGINS
    return (*UNUSED_PLUGINS, "schemathesis", "hypothesispytest")


def pytest_args(
    target: TargetOptions, report: Path, opts: VerifyOptions, workdir: Path
) -> list[str]:
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    args = [
        "-c",
        str(ini),
        "--rootdir",
        str(workdir),
        "-p",
        "no:cacheprovider",
        "--pyargs",
        *[f"suites.{name}" for name in opts.suites],
        "--sidecar-url",
        target.url,
        "--sidecar-heartbeat-interval",
        str(target.heartbeat_interval),
        "--clause-report",
        str(report),
    ]
    for plugin in unused_plugins(opts.suites):
        args += ["-p", f"no:{plugin}"]
    if not opts.verbose:
        args += ["-p", "no:terminal"]
    if target.secret:
        args += ["--sidecar-secret", target.secret]
    if target.model_endpoint:
        args += ["--model-endpoint", target.model_endpoint]
    if target.session_timeout is not None:
        args += ["--sidecar-session-timeout", str(target.session_timeout)]
    if target.max_sessions is not None:
        args += ["--sidecar-max-sessions", str(target.max_sessions)]
    if target.workspace is not None:
        args += ["--sidecar-workspace", str(target.workspace)]
    if target.strict:
        args.append("--sidecar-strict")
    if target.metrics_public:
        args.append("--sidecar-metrics-public")
    if target.restart_cmd:
        args += ["--sidecar-restart-cmd", target.restart_cmd]
    if target.pid is not None:
        args += ["--sidecar-pid", str(target.pid)]
    if opts.soak_duration is not None:
        args += ["--soak-duration", str(opts.soak_duration)]
    if opts.only:
        args += ["--only", opts.only]
    if opts.fuzz_max_examples is not None:
        args += ["--fuzz-max-examples", str(opts.fuzz_max_examples)]
    if opts.junit:
        args += ["--junitxml", str(opts.junit), "-o", "junit_suite_name=opencode-sidecar"]
    return args


class ProgressPrinter:
    """pytest plugin: one line per check as it finishes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        clauses = dict(report.user_properties).get("clauses", "")
        outcome = {"passed": "pass", "failed": "fail", "skipped": "skip"}[report.outcome]
        if report.when != "call" and report.failed:
            outcome = "error"
        name = report.nodeid.rsplit("::", 1)[-1]
        self.console.print(
            f"  [{STYLE[outcome]}]{outcome:5}[/] {clauses:28} {name} [dim]{report.duration:.2f}s[/]"
        )
        note = dict(report.user_properties).get(NOTE)
        if note and outcome == "pass":
            self.console.print(f"        {note}", style="dim", highlight=False, markup=False)


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="Clauses", title_justify="left", show_lines=False)
    for column in ("clause", "level", "title", "outcome"):
        table.add_column(column)
    for clause in report["clauses"]:
        outcome = clause["outcome"]
        table.add_row(
            clause["id"],
            clause["level"],
            clause["title"],
            f"[{STYLE[outcome]}]{outcome.upper()}[/]",
        )
    console.print(table)
    for clause in report["clauses"]:
        for test in clause["tests"]:
            if test["outcome"] not in ("fail", "error"):
                continue
            console.print(
                f"[{STYLE[test['outcome']]}]{clause['id']}[/] ({clause['level']}) "
                f"{test['message']}",
                highlight=False,
            )
            if test.get("expected") is not None:
                console.print(f"    Expected: {test['expected']}", highlight=False, markup=False)
                console.print(f"    Actual:   {test['actual']}", highlight=False, markup=False)
            if test.get("curl"):
                console.print(f"    Reproduce: {test['curl']}", highlight=False, markup=False)
    s = report["summary"]
    verdict = report["verdict"]
    colour = {"pass": "bold green", "fail": "bold red", "error": "bold yellow"}[verdict]
    console.print(
        f"[{colour}]Verdict: {verdict.upper()}[/] {s['pass']} passed, {s['fail']} failed, "
        f"{s['skip']} skipped, {s['error']} errors in {report['duration_s']:.1f} s"
        f"{' (strict)' if report['strict'] else ''}"
    )


def run_verify(opts: VerifyOptions, console: Console | None = None) -> int:
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocs-verify-")))
        if opts.target is None:
            console.print(
                f"Starting the reference sidecar (runtime {opts.runtime}) and verifying it..."
            )
            target = stack.enter_context(embedded_reference(opts.runtime, workdir))
            target = replace(target, strict=opts.strict)
        else:
            target = opts.target
        check_reachable(target)
        console.print(
            f"Verifying [bold]{target.url}[/] "
            f"({', '.join(opts.suites)}; heartbeat {target.heartbeat_interval:g} s)"
        )
        report_path = workdir / "clauses.json"
        exit_code = pytest.main(
            pytest_args(target, report_path, opts, workdir), plugins=[ProgressPrinter(console)]
        )
        if not report_path.exists():
            raise VerifyError(
                f"the suite did not run (pytest exit code {int(exit_code)}); "
                "rerun with --verbose to see why"
            )
        report = load_report(report_path)
        render(report, console)
        if opts.report:
            write_report(report, opts.report)
            console.print(f"Report written to {opts.report}")
        return {"pass": 0, "fail": 1, "error": 2}[report["verdict"]]


def main_verify(opts: VerifyOptions) -> int:
    try:
        return run_verify(opts)
    except VerifyError as exc:
        print(f"opencode-sidecar verify: {exc}", file=sys.stderr)
        return 2

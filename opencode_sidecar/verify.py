"""``opencode-sidecar verify``: run the suites against a sidecar and print a clause verdict."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from contract.settings import setting
from fakes.project import make_project
from opencode_sidecar.local_target import serve_words, target_fields
from opencode_sidecar.verify_console import ProgressPrinter, render
from suites import SUITES
from suites.clientkit.client import tls_context
from suites.clientkit.harness import ServerStartError, reference_argv, start_server
from suites.clientkit.supervisor import PORT_PLACEHOLDER, restart_command, supervised_argv
from suites.plugin.junit import write_junit
from suites.plugin.outcomes import EXIT_CODES
from suites.plugin.report import (
    load_report,
    write_report,
)
from suites.plugin.state import GivenSettings
from suites.plugin.target import RunOptions, TargetOptions


class VerifyError(Exception):
    """One line for the user; exit code 2."""


@dataclass(frozen=True)
class VerifyOptions:
    """``opencode-sidecar verify``'s own settings, besides the target's and the run's."""

    junit: Path | None = setting("write JUnit XML", flag="--junit", parse=Path, metavar="FILE")
    report: Path | None = setting(
        "write a report: .md, .html, or .json", flag="--report", parse=Path, metavar="FILE"
    )
    suites: tuple[str, ...] = setting(
        "suites to run (default: all)", flag="--suite", repeat=True, choices=SUITES
    )
    runtime: str = setting(
        "runtime of the embedded reference (without --target)",
        flag="--runtime",
        choices=("fake", "opencode"),
        default="fake",
    )
    verbose: bool = setting(
        "show pytest's own output too", flag="--verbose", short="-v", switch=True, default=False
    )

    @property
    def chosen_suites(self) -> tuple[str, ...]:
        """The suites asked for, in ``SUITES`` order (durability, which restarts the
        target, last; the retention watch's reads must not meet a restart)."""
        return tuple(s for s in SUITES if s in self.suites) if self.suites else SUITES


@dataclass(frozen=True)
class Verification:
    """What ``verify`` was asked: the target (without a URL: start the reference and verify
    it, as claiming the target's profiles), how to judge it, and the command's own options."""

    target: TargetOptions
    run: RunOptions = field(default_factory=RunOptions)
    options: VerifyOptions = field(default_factory=VerifyOptions)


EMBEDDED_SETTINGS: dict[str, Any] = {
    "heartbeat_interval": 0.5,
    "session_timeout": 3.0,
    # room for conformance's recorded runs to be read at once (``recording_room``)
    "max_concurrent_sessions": 6,
    "bash_timeout": 1.0,
    # an unanswered permission request is denied after it (PERMISSION-TIMEOUT waits it out)
    "permission_timeout": 1.0,
    # short enough to be over by the time the suites before retention are done (with 25 s
    # RETENTION-READABLE waited ~8 s of a 52 s run for it); a check going back to a finished
    # session that expired meanwhile reads another (``retained_run``)
    "session_retention": 15.0,
    # small, so that RETENTION-CAP and the churn soak fill it fast; large enough to hold
    # what the suites before RETENTION-READABLE finish (else it watches again, alone)
    "max_retained_sessions": 150,
}
"""What the embedded reference runs with (``Config`` fields), and declares to verify (each
setting's ``verify`` flag): short intervals, so that every clause runs fast."""
EMBEDDED_ON_OPENCODE: dict[str, Any] = {
    "session_timeout": 30.0,
    # CREATE-LIMIT-503 fills the cap with running sessions (kept at 3 from the per-session
    # OpenCode design; on the shared OpenCode a session costs ~20-70 MiB, issue 35)
    "max_concurrent_sessions": 3,
    # conformance's reused finished session must outlive its (much longer) run here
    "session_retention": 60.0,
    # RETENTION-CAP fills the cap with sessions run on the real OpenCode (seconds each)
    "max_retained_sessions": 20,
}
"""Where the embedded reference on the real OpenCode differs."""


@contextmanager
def embedded_reference(runtime: str, workdir: Path) -> Iterator[TargetOptions]:
    workspace = workdir / "workspace"
    settings = {
        **EMBEDDED_SETTINGS,
        **(EMBEDDED_ON_OPENCODE if runtime == "opencode" else {}),
        # the secret reaches it in its environment, as deploy/ gives it (never in a command
        # line: bash could read that from /proc/PID/cmdline)
        "shared_secret": secrets.token_urlsafe(24),
        "storage_dir": workdir / "storage",
        "runtime": runtime,
        # the fixture project, so that the PROJECT-* clauses run by default
        "project_dir": workdir / "project",
    }
    make_project(settings["project_dir"])
    words = serve_words(settings)
    state = workdir / "supervisor"
    inner = reference_argv(workspace, *words.args, port=PORT_PLACEHOLDER)
    argv = supervised_argv(state, inner)
    log = (workdir / "reference.log").open("w")
    try:
        with start_server(argv, env=words.env, stderr=log.fileno(), timeout=60) as server:
            yield TargetOptions(
                url=server.url,
                workspace=workspace,
                restart_cmd=restart_command(state),
                # the supervised server's own pid (soak reads its fds and RSS); the soak
                # suite runs before durability restarts it
                pid=int((state / "pid").read_text()),
                **target_fields(settings),
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
        httpx.get(f"{target.url}/healthz", timeout=5.0, verify=tls_context())
    except httpx.HTTPError as exc:
        raise VerifyError(
            f"cannot reach the sidecar at {target.url} ({type(exc).__name__}); "
            "is it running? pass its base URL with --target"
        ) from None


UNUSED_PLUGINS = (
    "locust",
    "respx",
    "pact",
    "xdist",
    "xdist.looponfail",
    "anyio",
    "unraisableexception",
)
"""Installed pytest plugins no suite uses: not loading them saves seconds per run
(``locust``'s would also import gevent next to Schemathesis). ``unraisableexception`` is
pytest's own: it turns an exception raised in a finalizer into a warning on the test,
which no clause reads, and runs a full ``gc.collect()`` at the end of every run (0.1-0.2 s
of CPU in a process that has run the suites before, as the self-test's workers have)."""
HYPOTHESIS_SUITES = frozenset({"fuzz", "lifecycle_model"})


def unused_plugins(suites: tuple[str, ...]) -> tuple[str, ...]:
    if HYPOTHESIS_SUITES & set(suites):
        return UNUSED_PLUGINS
    return (*UNUSED_PLUGINS, "schemathesis", "hypothesispytest")


def pytest_args(suites: tuple[str, ...], verbose: bool, workdir: Path) -> list[str]:
    """pytest's own arguments: which suites, which plugins, which output. The settings
    travel as objects (:class:`GivenSettings`), never as an argv."""
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    args = [
        "-c",
        str(ini),
        "--rootdir",
        str(workdir),
        "-p",
        "no:cacheprovider",
        # the suites judge with explicit violations; rewriting their asserts costs ~1.3 s of
        # CPU in a fresh environment and shows pytest's introspection instead of the message
        "--assert=plain",
        "--pyargs",
        *[f"suites.{name}" for name in suites],
    ]
    for plugin in unused_plugins(suites):
        args += ["-p", f"no:{plugin}"]
    if not verbose:
        args += ["-p", "no:terminal"]
    return args


def run_verify(asked: Verification, console: Console | None = None) -> int:
    opts = asked.options
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocs-verify-")))
        if not asked.target.url:
            console.print(
                f"Starting the reference sidecar (runtime {opts.runtime}) and verifying it..."
            )
            target = stack.enter_context(embedded_reference(opts.runtime, workdir))
            target = replace(target, profiles=asked.target.profiles)
        else:
            target = asked.target
        check_reachable(target)
        console.print(
            f"Verifying [bold]{target.url}[/] "
            f"({', '.join(opts.chosen_suites)}; heartbeat {target.heartbeat_interval:g} s)"
        )
        report_path = workdir / "clauses.json"
        run = replace(asked.run, clause_report=report_path)
        exit_code = pytest.main(
            pytest_args(opts.chosen_suites, opts.verbose, workdir),
            plugins=[ProgressPrinter(console), GivenSettings(target, run)],
        )
        if not report_path.exists():
            raise VerifyError(
                f"the suite did not run (pytest exit code {int(exit_code)}); "
                "rerun with --verbose to see why"
            )
        report = load_report(report_path)
        render(report, console)
        if opts.junit:
            write_junit(report, opts.junit)
        if opts.report:
            write_report(report, opts.report)
            console.print(f"Report written to {opts.report}")
        return EXIT_CODES[report["verdict"]]


def main_verify(asked: Verification) -> int:
    try:
        return run_verify(asked)
    except VerifyError as exc:
        print(f"opencode-sidecar verify: {exc}", file=sys.stderr)
        return 2

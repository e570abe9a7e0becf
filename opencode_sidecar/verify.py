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
from rich.table import Table

from fakes.project import make_project
from suites import SUITES
from suites.clientkit.harness import ServerStartError, reference_argv, start_server
from suites.clientkit.supervisor import PORT_PLACEHOLDER, restart_command, supervised_argv
from suites.plugin.junit import write_junit
from suites.plugin.outcomes import EXIT_CODES, NOTE
from suites.plugin.report import (
    SECRET_NOTE,
    failures,
    load_report,
    profile_counts,
    profile_rows,
    reason,
    write_report,
)
from suites.plugin.settings import serve_arguments, setting
from suites.plugin.state import GivenSettings
from suites.plugin.target import RunOptions, TargetOptions

STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "error": "yellow"}


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


EMBEDDED_DECLARED: dict[str, Any] = {
    "heartbeat_interval": 0.5,
    "session_timeout": 3.0,
    # room for conformance's recorded runs to be read at once (``recording_room``)
    "max_sessions": 6,
    "bash_timeout": 1.0,
    # short enough to wait out while the other suites run (the retention watch), long enough
    # for every suite that reuses a finished session (conformance, for its whole run)
    "session_retention": 25.0,
    # small, so that RETENTION-CAP and the churn soak fill it fast; large enough to hold
    # what the suites before RETENTION-READABLE finish (else it watches again, alone)
    "max_retained_sessions": 150,
}
"""What the embedded reference runs with and declares (``TargetOptions`` fields): short
intervals, so that every clause runs fast."""
EMBEDDED_ON_OPENCODE: dict[str, Any] = {
    "session_timeout": 30.0,
    # each running session is a confined opencode serve (~315 MiB): CREATE-LIMIT-503 fills
    # the cap with them
    "max_sessions": 3,
    # conformance's reused finished session must outlive its (much longer) run here
    "session_retention": 60.0,
    # each session starts a confined opencode serve (~5 s): RETENTION-CAP fills the cap
    "max_retained_sessions": 20,
}
"""Where the embedded reference on the real OpenCode differs."""


@contextmanager
def embedded_reference(runtime: str, workdir: Path) -> Iterator[TargetOptions]:
    declared = {
        **EMBEDDED_DECLARED,
        **(EMBEDDED_ON_OPENCODE if runtime == "opencode" else {}),
        "secret": secrets.token_urlsafe(24),
        # the fixture project, so that the PROJECT-* clauses run by default
        "project_dir": workdir / "project",
    }
    make_project(declared["project_dir"])
    workspace = workdir / "workspace"
    state = workdir / "supervisor"
    inner = reference_argv(
        workspace,
        "--storage-dir",
        str(workdir / "storage"),
        "--runtime",
        runtime,
        *serve_arguments(TargetOptions, declared),
        port=PORT_PLACEHOLDER,
    )
    argv = supervised_argv(state, inner)
    log = (workdir / "reference.log").open("w")
    # the secret in the environment, as deploy/ gives it (never in a command line: bash
    # could read that from /proc/PID/cmdline)
    env = {"OPENCODE_SHARED_SECRET": declared["secret"]}
    try:
        with start_server(argv, env=env, stderr=log.fileno(), timeout=60) as server:
            yield TargetOptions(
                url=server.url,
                workspace=workspace,
                restart_cmd=restart_command(state),
                # the supervised server's own pid (soak reads its fds and RSS); the soak
                # suite runs before durability restarts it
                pid=int((state / "pid").read_text()),
                **declared,
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


PROFILE_STYLE = {**STYLE, "not claimed": "dim", "not run": "dim"}


def render(report: dict[str, Any], console: Console) -> None:
    """The clause table (skip and error reasons beneath it), failures with expected, actual
    and a reproduce line, the per-profile verdicts, and the verdict."""
    table = Table(title="Clauses", title_justify="left", show_lines=False)
    for column in ("clause", "profile", "level", "title", "outcome"):
        table.add_column(column)
    for clause in report["clauses"]:
        outcome = clause["outcome"]
        table.add_row(
            clause["id"],
            clause.get("profile", ""),
            clause["level"],
            clause["title"],
            f"[{STYLE[outcome]}]{outcome.upper()}[/]",
        )
    console.print(table)
    for clause in report["clauses"]:
        why = reason(clause)
        if why:
            console.print(
                f"[{STYLE[clause['outcome']]}]{clause['outcome'].upper():5}[/] {clause['id']}: ",
                end="",
            )
            console.print(why, highlight=False, markup=False)
    found = failures(report)
    if any(t.get("curl") for _, t in found):
        console.print(SECRET_NOTE.replace("`", ""), style="dim", highlight=False, markup=False)
    for clause, test in found:
        console.print(
            f"[{STYLE[test['outcome']]}]{clause['id']}[/] ({clause['level']}) ",
            end="",
            highlight=False,
        )
        console.print(test["message"], highlight=False, markup=False)
        if test.get("expected") is not None:
            console.print(f"    Expected: {test['expected']}", highlight=False, markup=False)
            console.print(f"    Actual:   {test['actual']}", highlight=False, markup=False)
        if test.get("curl"):
            console.print(
                f"    Reproduce: {test['curl']}", highlight=False, markup=False, soft_wrap=True
            )
    profiles = Table(title="Profiles", title_justify="left")
    for column in ("profile", "verdict", "clauses", "covers"):
        profiles.add_column(column)
    for row in profile_rows(report):
        style = PROFILE_STYLE[row["outcome"]]
        profiles.add_row(
            row["name"], f"[{style}]{row['outcome'].upper()}[/]", profile_counts(row), row["title"]
        )
    if profile_rows(report):
        console.print(profiles)
    s = report["summary"]
    verdict = report["verdict"]
    colour = {"pass": "bold green", "fail": "bold red", "error": "bold yellow"}[verdict]
    console.print(
        f"[{colour}]Verdict: {verdict.upper()}[/] {s['pass']} passed, {s['fail']} failed, "
        f"{s['skip']} skipped, {s['error']} errors in {report['duration_s']:.1f} s"
        f"{' (strict)' if report['strict'] else ''}"
    )


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

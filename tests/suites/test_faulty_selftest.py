"""Every check can fail: for each (fault, suite) pair a fault declares, that suite flags
exactly the clauses the fault names for it (no more, no fewer; a minimum for the suites in
``AT_LEAST_SUITES``), and valid variations pass the suites they name."""

from __future__ import annotations

import importlib
import io
import json
import pkgutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from contract import Level, load_catalogue
from fakes.faults import FAULTS
from fakes.faults.fault import AT_LEAST_SUITES
from fakes.project import make_project
from opencode_sidecar.local_target import serve_words, target_fields
from opencode_sidecar.verify import Verification, VerifyOptions, run_verify
from suites import SUITES
from suites.clientkit.harness import (
    ForkedServer,
    Forkserver,
    ServerProcess,
    faulty_args,
    faulty_argv,
    start_server,
)
from suites.clientkit.supervisor import restart_command, supervised_argv
from suites.plugin.target import RunOptions, TargetOptions

SECRET = "selftest-secret"
SETTINGS: dict[str, Any] = {
    "shared_secret": SECRET,
    "heartbeat_interval": 0.5,
    # SESSION-TIMEOUT waits it out alongside the rest of conformance (a head start): room
    # for hello_write and the other sessions to finish on a loaded machine
    "session_timeout": 5.0,
    # room for the recorded runs to be read at once beside the sessions held from the start
    "max_concurrent_sessions": 6,
    "bash_timeout": 1.0,
    # PERMISSION-TIMEOUT waits it out; the answered requests are answered well within it
    "permission_timeout": 1.5,
}
"""What every faulty sidecar is started with (``Config`` fields), and so what verify is told
it declares (the serve flags, the environment and the verify fields derive from each
setting's declaration)."""
SUITE_SETTINGS: dict[str, dict[str, Any]] = {
    # a short retention to wait out, a small cap to fill
    "retention": {"session_retention": 6.0, "max_retained_sessions": 20},
    # the churn soak warms up with MAX_RETAINED_SESSIONS sessions
    "soak": {"session_retention": 600.0, "max_retained_sessions": 20},
    # agent_tools runs five tools, each confined in a child of its own: room for them on a
    # loaded machine (AGENT-MODEL-ENDLESS waits this out)
    "agent": {"session_timeout": 8.0},
    # the answered permission requests must be answered before PERMISSION_TIMEOUT on a loaded
    # machine (a late answer is refused, and the call denied by timeout); the expired
    # session needs room after its expiry (the refused call, a read, the answer)
    "conversation": {"session_timeout": 10.0, "permission_timeout": 3.0},
    # project_edit runs three confined tools, waits 1 s and reads: room on a loaded machine
    "project": {"session_timeout": 8.0},
    # the model learns that a session finished from what it reads; long_running sessions
    # that time out within its run give it finished sessions to DELETE (cancel_finished_200);
    # a cap of 3 as before the recorded runs wanted 6 (with 6, cancel_finished_200 went
    # uncaught once: fewer of its creates are refused while sessions time out)
    "lifecycle_model": {"session_timeout": 2.5, "max_concurrent_sessions": 3},
}
"""Where a suite's pairs run the faulty sidecar with (and declare) other settings."""


def settings_for(suite: str) -> dict[str, Any]:
    return {**SETTINGS, **SUITE_SETTINGS.get(suite, {})}


FAULT_RUN_OPTIONS = {"fuzz": RunOptions(fuzz_max_examples=10)}
"""How a suite judges a fault (not a valid variation), where it differs from the default."""

SECRET_ENV = serve_words({"shared_secret": SECRET}).env
"""How every faulty sidecar gets the secret: as deployed, in its environment (the sandbox
clauses look for it in /proc/<pid>/environ; a forked sidecar's is the forkserver's)."""

PYTHON_DEFAULT_IGNORED = (
    DeprecationWarning,
    PendingDeprecationWarning,
    ImportWarning,
    ResourceWarning,
)
"""What a fresh Python process ignores (the CLI's verify runs in one)."""

SPREAD_SUITES = frozenset({"soak"})
"""Suites whose pairs are long (20-50 s) and judge timing and memory: spread apart through
the first part of the run, so that none runs beside another and none is left for its end."""
SPREAD_EVERY = 18
"""Pairs between two spread ones: about what six workers run in one soak pair's time."""


def spread(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` in their order, with those of ``SPREAD_SUITES`` one every ``SPREAD_EVERY``."""
    spread_out = [p for p in pairs if p[1] in SPREAD_SUITES]
    ordered: list[tuple[str, str]] = []
    for pair in (p for p in pairs if p[1] not in SPREAD_SUITES):
        if spread_out and len(ordered) % SPREAD_EVERY == 0:
            ordered.append(spread_out.pop(0))
        ordered.append(pair)
    return ordered + spread_out


PAIRS = spread(sorted((n, suite) for n, fault in FAULTS.items() for suite in fault.catches))


@contextmanager
def served_pair(
    name: str, suite: str, tmp_path: Path, forkserver: Forkserver | None = None
) -> Iterator[tuple[ServerProcess | ForkedServer, dict[str, Any]]]:
    """Faulty sidecar ``name`` served as its pair with ``suite`` runs it (its workspace
    ``tmp_path / "workspace"``), and what verify is told beyond :func:`settings_for`: a
    fresh project for PROJECT- catches, a supervisor and a store for durability (restarted
    by command), the PID for soak. Forked from ``forkserver`` when given (else a process of
    its own); the false-failure benchmark serves its pairs with this too."""
    catches = FAULTS[name].catches[suite]
    workspace = tmp_path / "workspace"
    told: dict[str, Any] = {}
    settings = settings_for(suite)
    if any(c.startswith("PROJECT-") for c in catches):  # on a fresh fixture
        told["project_dir"] = tmp_path / "project"
        make_project(told["project_dir"])
        settings = {**settings, "project_dir": told["project_dir"]}
    words = serve_words(settings)
    assert words.env == SECRET_ENV  # the forkserver's environment, shared by its children
    serving = words.args
    with ExitStack() as stack:
        server: ServerProcess | ForkedServer
        if suite == "durability":  # restartable: a supervisor on a fixed port, a store
            state = tmp_path / "supervisor"
            storage = ("--storage-dir", str(tmp_path / "storage"))
            inner = faulty_argv(name, workspace, *serving, *storage, port="{port}")
            told["restart_cmd"] = restart_command(state)
            server = stack.enter_context(
                start_server(supervised_argv(state, inner), env=SECRET_ENV)
            )
        elif forkserver is None:
            server = stack.enter_context(
                start_server(faulty_argv(name, workspace, *serving), env=SECRET_ENV)
            )
        else:
            server = stack.enter_context(forkserver.server(faulty_args(name, workspace, *serving)))
        if suite == "soak":  # it watches the target's RSS and fds through its PID
            told["pid"] = server.pid
        yield server, told


@pytest.fixture(scope="session")
def forkserver() -> Iterator[Forkserver]:
    """Faulty sidecars forked from one warm process (each its own process and pid)."""
    server = Forkserver(env=SECRET_ENV)
    yield server
    server.close()


def verify(
    url: str,
    model_url: str,
    workspace: Path,
    report: Path,
    suite: str = "conformance",
    run: RunOptions | None = None,
    **told: Any,
) -> dict[str, object]:
    """``opencode-sidecar verify --suite SUITE`` against ``url``, run in this process (the
    CLI's own code path from the built objects on; its argv is tested in test_process)."""
    target = TargetOptions(
        url=url,
        model_endpoint=model_url,
        workspace=workspace,
        **{**target_fields(settings_for(suite)), **told},
    )
    console = Console(file=io.StringIO(), width=160, highlight=False)
    asked = Verification(target, run or RunOptions(), VerifyOptions(suites=(suite,), report=report))
    with warnings.catch_warnings():  # as in the CLI's own process, not this test run's
        warnings.resetwarnings()
        for category in PYTHON_DEFAULT_IGNORED:
            warnings.simplefilter("ignore", category)
        exit_code = run_verify(asked, console)
    assert report.exists(), console.file.getvalue()[-4000:]  # type: ignore[attr-defined]
    result: dict[str, object] = json.loads(report.read_text())
    result["exit_code"] = exit_code
    result["output"] = console.file.getvalue()[-4000:]  # type: ignore[attr-defined]
    return result


def outcomes(report: dict[str, object], outcome: str) -> set[str]:
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    return {c["id"] for c in clauses if c["outcome"] == outcome}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize(("name", "suite"), PAIRS, ids=[f"{n}-{s}" for n, s in PAIRS])
def test_suite_flags_exactly_the_declared_clauses(
    name: str, suite: str, model_url: str, forkserver: Forkserver, tmp_path: Path
) -> None:
    fault = FAULTS[name]
    workspace = tmp_path / "workspace"
    run = None if fault.is_valid_variation else FAULT_RUN_OPTIONS.get(suite)
    with served_pair(name, suite, tmp_path, forkserver) as (server, told):
        report = verify(
            server.url, model_url, workspace, tmp_path / "report.json", suite, run, **told
        )
    failed = outcomes(report, "fail")
    assert outcomes(report, "error") == set(), report["output"]
    declared = set(fault.catches[suite])
    if suite in AT_LEAST_SUITES and declared:
        assert declared <= failed, (
            f"{name}: missing {sorted(declared - failed)}\n{report['output']}"
        )
    else:
        assert failed == declared, (
            f"{name}: extra {sorted(failed - declared)}, missing {sorted(declared - failed)}\n"
            + str(report["output"])
        )
    if fault.is_valid_variation:
        assert outcomes(report, "pass"), f"{name}: {suite} passed nothing\n{report['output']}"
    catalogue = load_catalogue()
    blocking = any(catalogue[c].level is Level.MUST for c in failed)
    assert report["exit_code"] == (1 if blocking else 0)
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    for clause, piece in fault.evidence.items():
        if clause in declared:
            shown = json.dumps(next(c for c in clauses if c["id"] == clause))
            assert piece in shown, f"{clause} does not show {piece!r}: {shown[:3000]}"


def test_every_must_and_should_clause_has_a_fault_and_a_test() -> None:
    catalogue = load_catalogue()
    faulted = {c for f in FAULTS.values() for c in f.violates}
    wanted = {c.id for c in catalogue.active() if c.level in (Level.MUST, Level.SHOULD)}
    assert wanted - faulted == set()
    assert faulted <= {c.id for c in catalogue}
    assert {s for f in FAULTS.values() for s in f.catches} <= set(SUITES)
    tested = set()
    for suite in SUITES:
        package = importlib.import_module(f"suites.{suite}")
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"suites.{suite}.{module_info.name}")
            for value in vars(module).values():
                for mark in getattr(value, "pytestmark", []):
                    if mark.name == "clause":
                        tested.update(mark.args)
    assert wanted - tested == set()
    assert tested <= {c.id for c in catalogue}


def test_a_fault_declared_twice_is_refused() -> None:
    from fakes.faults.catalogue import merge

    fault = FAULTS["create_200"]
    with pytest.raises(ValueError, match="'create_200' is declared twice"):
        merge([fault, fault])

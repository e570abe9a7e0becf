"""Every check can fail: for each (fault, suite) pair a fault declares, that suite flags
exactly the clauses the fault names for it (no more, no fewer; a minimum for the suites in
``AT_LEAST_SUITES``), and valid variations pass the suites they name."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
from pathlib import Path

import pytest

from contract import Level, load_catalogue
from fakes.faults import FAULTS
from fakes.faults.fault import AT_LEAST_SUITES
from suites import SUITES
from suites.harness import faulty_argv, python_module, start_server
from suites.supervisor import restart_command, supervised_argv

SECRET = "selftest-secret"
DECLARED = [
    *("--heartbeat-interval", "0.5", "--session-timeout", "2.5", "--max-sessions", "3"),
    *("--bash-timeout", "1"),
]
FAULT_SUITE_ARGS: dict[str, tuple[str, ...]] = {"fuzz": ("--max-examples", "30")}
"""Extra verify flags per suite when a fault (not a valid variation) is verified."""

PAIRS = sorted((name, suite) for name, fault in FAULTS.items() for suite in fault.catches)


def verify(
    url: str,
    model_url: str,
    workspace: Path,
    report: Path,
    suite: str = "conformance",
    extra: tuple[str, ...] = (),
) -> dict[str, object]:
    argv = python_module(
        "opencode_sidecar",
        "verify",
        "--target",
        url,
        "--secret",
        SECRET,
        "--model-endpoint",
        model_url,
        "--workspace",
        str(workspace),
        "--report",
        str(report),
        "--suite",
        suite,
        *extra,
        *DECLARED,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, object] = json.loads(report.read_text())
    result["exit_code"] = done.returncode
    result["output"] = done.stdout[-4000:]
    return result


def outcomes(report: dict[str, object], outcome: str) -> set[str]:
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    return {c["id"] for c in clauses if c["outcome"] == outcome}


@pytest.mark.parametrize(("name", "suite"), PAIRS, ids=[f"{n}-{s}" for n, s in PAIRS])
def test_suite_flags_exactly_the_declared_clauses(
    name: str, suite: str, model_url: str, tmp_path: Path
) -> None:
    fault = FAULTS[name]
    workspace = tmp_path / "workspace"
    argv = faulty_argv(name, workspace, "--secret", SECRET, *DECLARED)
    extra = () if fault.is_valid_variation else FAULT_SUITE_ARGS.get(suite, ())
    if suite == "durability":  # restartable: a supervisor on a fixed port, a store
        state = tmp_path / "supervisor"
        storage = ("--storage-dir", str(tmp_path / "storage"))
        inner = faulty_argv(name, workspace, "--secret", SECRET, *DECLARED, *storage, port="{port}")
        argv = supervised_argv(state, inner)
        extra = ("--restart-cmd", restart_command(state))
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        if suite == "soak":  # it watches the target's RSS and fds through its PID
            extra = ("--pid", str(server.process.pid))
        report = verify(
            server.url, model_url, workspace, tmp_path / "report.json", suite=suite, extra=extra
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

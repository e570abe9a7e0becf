"""pytest plugin (entry point ``pytest11``): clause markers, target options, clause report.

``@pytest.mark.clause("SSE-RESUME")`` tags a test with the clause it verifies; an id the
catalogue does not list is a collection error, and the node id shows the clause. Options
name the target; fixtures live in :mod:`suites.fixtures`; outcomes are gathered per clause
into a JSON report (``--clause-report``) that ``opencode-sidecar verify`` renders.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from contract import load_catalogue
from suites.outcomes import ClauseRecorder, TestResult, classify
from suites.target import TargetOptions
from suites.verdict import ClauseViolation

recorder_key = pytest.StashKey[ClauseRecorder]()
target_key = pytest.StashKey[TargetOptions | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opencode-sidecar", "opencode-sidecar conformance")
    env = os.environ.get
    group.addoption(
        "--sidecar-url", default=env("SIDECAR_URL"), help="sidecar base URL [SIDECAR_URL]"
    )
    group.addoption(
        "--sidecar-secret", default=env("SIDECAR_SECRET"), help="bearer secret [SIDECAR_SECRET]"
    )
    group.addoption(
        "--model-endpoint",
        default=env("MODEL_ENDPOINT"),
        help="fake model server base URL (default: start one)",
    )
    group.addoption(
        "--sidecar-heartbeat-interval",
        type=float,
        default=30.0,
        help="HEARTBEAT_INTERVAL the target declares (s)",
    )
    group.addoption(
        "--sidecar-session-timeout",
        type=float,
        default=None,
        help="SESSION_TIMEOUT the target declares (s); SESSION-TIMEOUT skips without it",
    )
    group.addoption(  # SETTING(issue 19)
        "--sidecar-bash-timeout",
        type=float,
        default=None,
        help="the target's bash timeout (s); AGENT-BASH-TIMEOUT skips without it",
    )
    group.addoption(
        "--sidecar-max-sessions",
        type=int,
        default=None,
        help="MAX_CONCURRENT_SESSIONS the target declares (default: probe)",
    )
    group.addoption(
        "--sidecar-workspace",
        type=Path,
        default=None,
        help="the target's WORKSPACE_DIR, when this machine can read it",
    )
    group.addoption(
        "--sidecar-metrics-public",
        action="store_true",
        default=False,
        help="the target serves /metrics without the bearer token (METRICS_REQUIRE_AUTH=false)",
    )
    group.addoption(
        "--sidecar-restart-cmd",
        default=env("SIDECAR_RESTART_CMD"),
        help="shell command that kills the target with SIGKILL and restarts it on the same URL "
        "(the durability suite skips without it) [SIDECAR_RESTART_CMD]",
    )
    group.addoption(
        "--sidecar-strict",
        action="store_true",
        default=False,
        help="SHOULD clauses fail the run too",
    )
    group.addoption(
        "--fuzz-max-examples",
        type=int,
        default=100,
        help="generated examples per operation in the fuzz suite (default 100)",
    )
    group.addoption(
        "--fuzz-seed",
        type=int,
        default=None,
        help="randomize the fuzz suite with this seed (default: derandomized, reproducible)",
    )
    group.addoption(
        "--sidecar-pid",
        type=int,
        default=None,
        help="the target's PID, when it runs on this machine (soak: its fds and RSS)",
    )
    group.addoption(
        "--soak-duration",
        type=float,
        default=None,
        help="run the soak suite's storm for this many seconds (default: a short bounded run)",
    )
    group.addoption("--only", default=None, help="run only clauses matching a glob, e.g. 'SSE-*'")
    group.addoption("--clause-report", type=Path, default=None, help="write the JSON clause report")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the contract clause ids (contract/clauses.yaml) a test verifies"
    )
    url = config.getoption("sidecar_url")
    config.stash[target_key] = (
        TargetOptions(
            url=url.rstrip("/"),
            secret=config.getoption("sidecar_secret") or None,
            model_endpoint=config.getoption("model_endpoint"),
            heartbeat_interval=config.getoption("sidecar_heartbeat_interval"),
            session_timeout=config.getoption("sidecar_session_timeout"),
            max_sessions=config.getoption("sidecar_max_sessions"),
            bash_timeout=config.getoption("sidecar_bash_timeout"),  # SETTING(issue 19)
            workspace=config.getoption("sidecar_workspace"),
            strict=config.getoption("sidecar_strict"),
            metrics_public=config.getoption("sidecar_metrics_public"),
            restart_cmd=config.getoption("sidecar_restart_cmd") or None,
            pid=config.getoption("sidecar_pid"),
            soak_duration=config.getoption("soak_duration"),
        )
        if url
        else None
    )
    config.stash[recorder_key] = ClauseRecorder(load_catalogue())
    if url:
        _hypothesis_profile(config)
    from suites import fixtures

    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, "opencode-sidecar-fixtures")


def _hypothesis_profile(config: pytest.Config) -> None:
    """Deterministic by default (no example database, derandomized) so CI runs repeat."""
    from hypothesis import HealthCheck, settings

    seed = config.getoption("fuzz_seed")
    settings.register_profile(
        "opencode-sidecar",
        max_examples=config.getoption("fuzz_max_examples"),
        derandomize=seed is None,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    settings.load_profile("opencode-sidecar")
    if seed is not None:
        import random

        random.seed(seed)


def clause_ids(item: pytest.Item) -> tuple[str, ...]:
    """The clause ids an item is tagged with, in marker order."""
    return tuple(i for marker in item.iter_markers("clause") for i in marker.args)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    catalogue = load_catalogue()
    unknown = sorted(
        {f"{item.nodeid}: {i}" for item in items for i in clause_ids(item) if i not in catalogue}
    )
    if unknown:
        raise pytest.UsageError(
            "clause ids missing from contract/clauses.yaml:\n  " + "\n  ".join(unknown)
        )
    only = config.getoption("only")
    if only:
        wanted = {c.id for c in catalogue.matching(only)}
        keep = [i for i in items if set(clause_ids(i)) & wanted]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    recorder = config.stash[recorder_key]
    for item in items:
        for clause_id in clause_ids(item):
            recorder.expect(clause_id)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    ids = clause_ids(item)
    if not ids:
        return report
    report.user_properties.append(("clauses", " ".join(ids)))
    result = classify(report, call)
    if result is not None:
        recorder = item.config.stash[recorder_key]
        exc = call.excinfo.value if call.excinfo is not None else None
        violated = getattr(exc, "clauses", None) if isinstance(exc, ClauseViolation) else None
        for clause_id in ids:
            if violated is not None and clause_id not in violated:
                recorder.add(clause_id, TestResult(item.nodeid, "pass", report.duration))
            else:
                recorder.add(clause_id, TestResult(nodeid=item.nodeid, **result))
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[recorder_key].started = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    recorder = config.stash[recorder_key]
    if not recorder.expected:
        return
    target = config.stash[target_key]
    strict = bool(config.getoption("sidecar_strict"))
    path = config.getoption("clause_report")
    if path is not None:
        recorder.write(path, target.redacted() if target else {}, strict)
    if recorder.results and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = recorder.exit_code(strict)


def pytest_report_header(config: pytest.Config) -> str | None:
    target = config.stash[target_key]
    return f"sidecar: {target.url}" if target else None


def target_or_skip(config: pytest.Config) -> TargetOptions:
    target = config.stash[target_key]
    if target is None:
        pytest.skip("no target: pass --sidecar-url (or SIDECAR_URL)")
    return target

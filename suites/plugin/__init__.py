"""pytest plugin (entry point ``pytest11``): clause markers, settings, clause report.

``@pytest.mark.clause("SSE-RESUME")`` tags a test with the clauses it verifies; an id the
catalogue does not list is a collection error, and the ids reach JUnit and the reports as
the test's ``clauses`` property. The target and run settings come from a
:class:`~suites.plugin.state.GivenSettings` plugin object (``opencode-sidecar verify``) or
from the pytest options derived from their declaration (``--sidecar-url`` ...); fixtures
live in :mod:`suites.plugin.fixtures`, :mod:`suites.plugin.head_starts` and
:mod:`suites.plugin.recorded_runs`; outcomes are gathered per clause into the JSON
clause report (``--sidecar-clause-report``) that ``opencode-sidecar verify`` renders.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Generator

import pytest

from contract import Catalogue, load_catalogue, load_profiles
from contract.settings import redacted
from suites.checks.verdict import ENABLED_BY, ClauseViolation
from suites.plugin.outcomes import ClauseRecorder, TestResult, classify
from suites.plugin.settings import add_pytest_options, from_pytest, plugin_option_of
from suites.plugin.state import GivenSettings, recorder_key, run_key, target_key
from suites.plugin.target import RunOptions, TargetOptions

previous_profile_key = pytest.StashKey[str]()


def _matching(catalogue: Catalogue, patterns: tuple[str, ...]) -> set[str]:
    return {c.id for pattern in patterns for c in catalogue.matching(pattern)}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opencode-sidecar", "opencode-sidecar conformance")
    add_pytest_options(group, TargetOptions)
    add_pytest_options(group, RunOptions)


def _given(config: pytest.Config) -> GivenSettings | None:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, GivenSettings):
            return plugin
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the contract clause ids (contract/clauses.yaml) a test verifies"
    )
    given = _given(config)
    if given is not None:
        target: TargetOptions | None = given.target
        run = given.run
    else:
        built = from_pytest(TargetOptions, config, os.environ)
        target = built if built.url else None
        run = from_pytest(RunOptions, config, os.environ)
    config.stash[target_key] = target
    config.stash[run_key] = run
    claimed = target.profiles if target is not None and target.profiles else None
    config.stash[recorder_key] = ClauseRecorder(load_catalogue(), load_profiles(), claimed)
    if target is not None:
        config.stash[previous_profile_key] = _hypothesis_profile(run)
    from suites.plugin import fixtures, head_starts, recorded_runs

    for name, module in (
        ("fixtures", fixtures),
        ("head-starts", head_starts),
        ("recorded-runs", recorded_runs),
    ):
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, f"opencode-sidecar-{name}")


def _hypothesis_profile(run: RunOptions) -> str:
    """Deterministic by default (no example database, derandomized) so CI runs repeat.
    Returns the profile it replaced (restored when the run ends: a run inside a longer
    process leaves Hypothesis as it found it)."""
    from hypothesis import HealthCheck, settings

    previous = settings.get_current_profile_name()
    seed = run.fuzz_seed
    settings.register_profile(
        "opencode-sidecar",
        max_examples=run.fuzz_max_examples,
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
    return previous


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(previous_profile_key, None)
    if previous is not None:
        from hypothesis import settings

        settings.load_profile(previous)


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
    wanted = selected_clauses(config)
    target, run = config.stash[target_key], config.stash[run_key]
    narrowed = bool(run.only or run.skip or (target is not None and target.profiles))
    keep = [i for i in items if set(clause_ids(i)) & wanted or not (clause_ids(i) or narrowed)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    recorder = config.stash[recorder_key]
    for item in items:
        for clause_id in clause_ids(item):
            if clause_id in wanted:
                recorder.expect(clause_id)


def selected_clauses(config: pytest.Config) -> set[str]:
    """Active clauses of the profiles the target claims, narrowed by --only and --skip."""
    catalogue, profiles = load_catalogue(), load_profiles()
    target, run = config.stash[target_key], config.stash[run_key]
    chosen = {
        c.id
        for c in catalogue.active()
        if target is None or target.claims(profiles.of_area(c.area))
    }
    if run.only:
        chosen &= _matching(catalogue, run.only)
    return chosen - _matching(catalogue, run.skip)


ENABLING = re.compile(rf"pass (--[a-z-]+) {ENABLED_BY}")


def with_pytest_options(reason: str) -> str:
    """A skip reason naming verify's flag, with the pytest option that flag becomes."""

    def add(match: re.Match[str]) -> str:
        option = plugin_option_of((TargetOptions, RunOptions), match.group(1))
        return match.group(0) + (f" (pytest plugin: {option})" if option else "")

    return ENABLING.sub(add, reason)


def item_id(item: pytest.Item) -> str:
    """The item's node id, with the operation of a Schemathesis item (whose node ids are
    all ``test_fuzz.py::test_operation``), e.g. ``...::test_operation[POST /sessions]``."""
    label = getattr(item, "operation_label", None)
    if isinstance(label, str) and label not in item.nodeid:
        return f"{item.nodeid}[{label}]"
    return item.nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    ids = clause_ids(item)
    if not ids:
        return report
    if report.skipped and isinstance(report.longrepr, tuple):
        where, line, reason = report.longrepr
        report.longrepr = (where, line, with_pytest_options(reason))
    report.user_properties.append(("clauses", " ".join(ids)))
    result = classify(report, call)
    if result is not None:
        recorder = item.config.stash[recorder_key]
        exc = call.excinfo.value if call.excinfo is not None else None
        violated = getattr(exc, "clauses", None) if isinstance(exc, ClauseViolation) else None
        nodeid = item_id(item)
        for clause_id in ids:
            if clause_id not in recorder.expected:
                continue  # deselected (--only/--skip) or of a profile the target does not claim
            if violated is not None and clause_id not in violated:
                recorder.add(clause_id, TestResult(nodeid, "pass", report.duration))
            else:
                recorder.add(clause_id, TestResult(nodeid=nodeid, **result))
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[recorder_key].started = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    recorder = config.stash[recorder_key]
    if not recorder.expected:
        return
    target = config.stash[target_key]
    run = config.stash[run_key]
    if run.clause_report is not None:
        recorder.write(run.clause_report, redacted(target) if target else {}, run.strict)
    if recorder.results and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = recorder.exit_code(run.strict)


def pytest_report_header(config: pytest.Config) -> str | None:
    target = config.stash[target_key]
    return f"sidecar: {target.url}" if target else None

"""Head starts: session fixtures set up before the first test of a run that uses them, when
the target has room, so that what they wait for overlaps every other check (``HEAD_STARTS``
says what each holds); the checks that judge them run last in their suite. Moved out of
:mod:`suites.plugin.fixtures` (scheduling here, the recorded-run reader in
:mod:`suites.plugin.recorded_runs`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pytest

from suites.plugin.target import TargetOptions

T = TypeVar("T")


@dataclass(frozen=True)
class HeadStart:
    """A session fixture set up before the first test of a run that uses it anywhere, when
    the target has room for it: what it waits for runs alongside every other check."""

    sessions: int
    """Sessions it holds while the checks run."""
    undeclared: bool
    """Whether it starts early when the target's MAX_SESSIONS is not declared too (else only
    when a declared one leaves it room)."""
    always: bool = False
    """Started early whatever the limit (it waits for nothing else to end)."""


HEAD_STARTS = {
    "retention_watch": HeadStart(1, undeclared=True, always=True),
    "timeout_run": HeadStart(1, undeclared=True),
    "slow_runs": HeadStart(2, undeclared=False),  # the agent suite's (suites/agent/_fixtures.py)
}
"""The head starts, in the order they are given room."""

CHECKS_AT_ONCE = 2
"""The most sessions the checks themselves run at once (the agent suite's ``tools_pair``)."""

JUDGED_LAST = frozenset({"timeout_run", "slow_runs"})
"""Head starts whose checks run last in their suite (``pytest_collection_modifyitems``); not
the retention watch, whose suite's RETENTION-CAP must come after its reads."""


def early_starts(used: set[str], max_sessions: int | None) -> dict[str, int]:
    """The head starts a run starts early (of those its checks ``used``), and the sessions
    each holds: in ``HEAD_STARTS`` order, while MAX_SESSIONS leaves room for them beside
    ``CHECKS_AT_ONCE`` of the checks' own."""
    early: dict[str, int] = {}
    for name, start in HEAD_STARTS.items():
        if name not in used:
            continue
        if max_sessions is None:
            fits = start.undeclared
        else:
            fits = sum(early.values()) + start.sessions + CHECKS_AT_ONCE <= max_sessions
        if fits or start.always:
            early[name] = start.sessions
    return early


def used_fixtures(session: pytest.Session) -> set[str]:
    return {name for item in session.items for name in getattr(item, "fixturenames", ())}


@pytest.fixture(scope="session")
def held_from_start(request: pytest.FixtureRequest, target: TargetOptions) -> dict[str, int]:
    """The head starts this run starts early, and the sessions each holds meanwhile."""
    return early_starts(used_fixtures(request.session), target.max_sessions)


@pytest.hookimpl(trylast=True)  # after the plugin's clause selection
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The checks that judge a head start of ``JUDGED_LAST`` run last in their suite (the
    suites keep their order): what they wait for has had the rest of the suite to happen."""
    suites: dict[str, int] = {}
    for item in items:
        suites.setdefault(_suite_of(item), len(suites))

    def key(item: pytest.Item) -> tuple[int, bool]:
        waits = bool(JUDGED_LAST & set(getattr(item, "fixturenames", ())))
        return suites[_suite_of(item)], waits

    items[:] = sorted(items, key=key)


def _suite_of(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rsplit(".", 1)[0] if module is not None else ""


@pytest.fixture(scope="session", autouse=True)
def head_start(request: pytest.FixtureRequest) -> None:
    try:
        early = request.getfixturevalue("held_from_start")
    except (Exception, pytest.skip.Exception):
        return  # no target: reported by every test
    for name in early:
        try:
            request.getfixturevalue(name)
        except (Exception, pytest.skip.Exception):  # noqa: S112
            continue  # reported by the tests that use it, not by the first test of the run


def begun(work: Callable[[], T], early: bool) -> Callable[[], T]:
    """``work`` as the call that waits for it: run in a thread from now on when ``early``
    (its wait then overlaps the other checks), else when the check calls it."""
    if not early:
        return work
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-start")
    started = pool.submit(work)
    pool.shutdown(wait=False)  # its thread runs the work on; result() waits and re-raises
    return started.result

"""Small caps never fail an honest sidecar. SESSION-TIMEOUT's head start with a small
MAX_SESSIONS: when there is no room for a session held from the run's start, it is started
when its check comes, and the checks before it still get their sessions. A small
MAX_RETAINED_SESSIONS: the finished session conformance read first may be evicted before a
later check goes back to it (``retained_run`` reads another)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from suites.plugin.head_starts import early_starts

SMALL_CAP = "1"
"""One session at a time: a held session would leave CANCEL-200 none (a skip)."""


def test_a_target_without_room_gets_its_timeout_session_when_the_check_comes(
    verify_reference: Callable[..., dict[str, Any]],
) -> None:
    assert "timeout_run" not in early_starts({"timeout_run"}, int(SMALL_CAP))
    settings = ("--max-sessions", SMALL_CAP, "--session-timeout", "1")
    judged = verify_reference(
        settings, "--suite", "conformance", "--only", "CANCEL-200,SESSION-TIMEOUT"
    )
    assert outcomes(judged) == {"CANCEL-200": "pass", "SESSION-TIMEOUT": "pass"}


SMALL_RETENTION_CAP = "8"
"""Fewer finished sessions than conformance starts after its first recorded run."""


@pytest.mark.parametrize(
    "limit",
    [(), ("--max-sessions", "6")],
    ids=["limit-undeclared-read-in-turn", "limit-declared-read-at-once"],
)
def test_a_small_retention_cap_fails_no_conformance_clause(
    verify_reference: Callable[..., dict[str, Any]], limit: tuple[str, ...]
) -> None:
    settings = (
        *("--max-retained-sessions", SMALL_RETENTION_CAP, "--session-timeout", "3"),
        *("--heartbeat-interval", "0.5", *limit),
    )
    judged = outcomes(verify_reference(settings, "--suite", "conformance"))
    assert set(judged.values()) <= {"pass", "skip"}
    skipped = {c for c, o in judged.items() if o == "skip"}
    assert skipped == {"AUTH-REQUIRED"}, skipped  # served without a secret: nothing else


def outcomes(clauses: dict[str, Any]) -> dict[str, str]:
    return {clause: report["outcome"] for clause, report in clauses.items()}


@pytest.mark.parametrize(
    ("max_sessions", "early"),
    [
        (None, {"retention_watch": 1, "timeout_run": 1}),
        (1, {"retention_watch": 1}),
        (5, {"retention_watch": 1, "timeout_run": 1}),
        (6, {"retention_watch": 1, "timeout_run": 1, "slow_runs": 2}),
    ],
)
def test_head_starts_start_early_only_with_room_beside_the_checks_sessions(
    max_sessions: int | None, early: dict[str, int]
) -> None:
    """The slow agent runs hold two sessions: they start early only when a declared limit
    leaves room for them, the others, and the two sessions a check runs at once."""
    used = {"retention_watch", "timeout_run", "slow_runs", "hello_run"}
    assert early_starts(used, max_sessions) == early
    assert early_starts({"hello_run"}, max_sessions) == {}

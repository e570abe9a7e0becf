"""The retention watch never fails an honest sidecar: when other suites' sessions push the
watched session out of a small MAX_RETAINED_SESSIONS before RETENTION-READABLE reads it,
a session watched alone is judged instead (and the report says so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RETENTION = "10"
"""Long enough that the conformance tests below finish their sessions before the read at
0.7 of it, on a loaded machine too."""
CAP = "3"
"""Fewer than the sessions CREATE-LIMIT-503 alone starts and cancels."""


def test_a_watched_session_evicted_by_other_suites_is_watched_again_alone(
    verify_reference: Callable[..., dict[str, Any]],
) -> None:
    settings = ("--max-sessions", "3", "--session-retention", RETENTION)
    clauses = verify_reference(
        (*settings, "--max-retained-sessions", CAP),
        *("--suite", "conformance,retention"),
        *("--only", "CREATE-*,RETENTION-READABLE,RETENTION-EXPIRES"),
    )
    assert clauses["RETENTION-READABLE"]["outcome"] == "pass"
    assert clauses["RETENTION-EXPIRES"]["outcome"] == "pass"
    [test] = clauses["RETENTION-READABLE"]["tests"]
    assert "judged a session watched alone" in test["message"], test

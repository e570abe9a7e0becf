"""TRACE-MODEL-PARENT passes on the reference on the fake runtime, judged by verify (the
real OpenCode's run is in test_opencode_runtime.py, beside its sidecar)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_the_trace_clause_passes_on_the_fake_runtime(
    verify_reference: Callable[..., dict[str, dict[str, Any]]],
) -> None:
    clauses = verify_reference(
        ("--runtime", "fake"), "--suite", "agent", "--only", "TRACE-MODEL-PARENT"
    )
    assert clauses["TRACE-MODEL-PARENT"]["outcome"] == "pass", clauses["TRACE-MODEL-PARENT"]

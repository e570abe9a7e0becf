"""What a check concludes: ``ClauseViolation`` (a failure), and skips for absent capabilities.

Outcomes per clause (h2spec/OCI style): ``pass``; ``fail`` (the target violated the
clause: expected vs actual, and a curl line that reproduces it); ``skip`` (the clause
cannot apply: capability absent, or a precondition clause already failed); ``error``
(target unreachable or a suite bug: never reported as a fail).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NoReturn, overload

import httpx
import pytest

from suites.clientkit.client import to_curl


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Worse outcomes rank higher (a clause's outcome is its worst test's)."""
        return {"skip": 0, "pass": 1, "error": 2, "fail": 3}[self.value]


class ClauseViolation(AssertionError):
    """The target broke a clause. Carries a title, the expected, the actual and a curl line."""

    def __init__(
        self,
        title: str,
        expected: Any,
        actual: Any,
        curl: str | None = None,
        clauses: tuple[str, ...] | None = None,
    ) -> None:
        self.clauses = clauses
        """The subset of the test's clauses violated (``None``: all of them)."""
        self.title = title
        self.expected = _short(expected)
        self.actual = _short(actual)
        self.curl = curl
        lines = [title, f"Expected: {self.expected}", f"Actual:   {self.actual}"]
        if curl:
            lines.append(f"Reproduce: {curl}")
        super().__init__("\n".join(lines))


def _short(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def violation(
    title: str,
    expected: Any,
    actual: Any,
    response: httpx.Response | None = None,
    secret: str | None = None,
) -> NoReturn:
    """Raise a :class:`ClauseViolation` (with a curl line when there is a response)."""
    curl = to_curl(response.request, secret) if response is not None else None
    raise ClauseViolation(title, expected, actual, curl)


def check(
    condition: bool,
    title: str,
    expected: Any,
    actual: Any,
    response: httpx.Response | None = None,
) -> None:
    if not condition:
        violation(title, expected, actual, response)


ENABLED_BY = "to verify"
"""How a skip reason names the verify flag that enables its check (``pass --secret to
verify``); the plugin adds the pytest option the flag becomes."""


def enabling(flag: str) -> str:
    """How to enable a check, naming verify's flag."""
    return f"pass {flag} {ENABLED_BY}"


@overload
def capability_absent(reason: str, *, flag: str) -> NoReturn: ...


@overload
def capability_absent(reason: str, *, clause: str) -> NoReturn: ...


def capability_absent(
    reason: str, *, flag: str | None = None, clause: str | None = None
) -> NoReturn:
    """The clause cannot apply to this target as configured: ``flag`` is the verify flag that
    enables it, else ``clause`` the one whose capability it needs.

    Exactly one of them, by keyword: the overloads make any other call fail ``mypy
    --strict`` (a call naming neither used to raise ``TypeError`` at run time, which verify
    reported as an ERROR against an honest target)."""
    if flag is not None:
        pytest.skip(f"capability absent: {reason}; {enabling(flag)}")
    pytest.skip(f"capability absent: {reason} (see {clause})")


def precondition_failed(clause_id: str, reason: str) -> NoReturn:
    """Another clause this check relies on is violated; that clause reports it."""
    pytest.skip(f"precondition {clause_id} not met: {reason} (see {clause_id})")

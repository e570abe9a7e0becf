"""Outcomes per clause: gathered from pytest reports, written as the JSON clause report."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import Catalogue, Level, Profiles
from suites.checks.verdict import ClauseViolation, Outcome

UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout)
NOTE = "note"
EXIT_CODES = {"pass": 0, "fail": 1, "error": 2}
"""A run's verdict -> the exit code of ``pytest`` and of ``opencode-sidecar verify``."""
"""A test's ``record_property(NOTE, text)`` becomes its clause report message (figures of a
passing soak check, e.g.)."""


NOT_VERIFIED = "not verified"
"""A claimed profile whose every selected clause skipped (a reader must not take it for PASS)."""


@dataclass(frozen=True)
class TestResult:
    """One test's outcome for a clause."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str
    duration: float
    message: str = ""
    expected: str | None = None
    actual: str | None = None
    curl: str | None = None


def classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any] | None:
    """The clause outcome a pytest report stands for (``None``: nothing to record)."""
    if report.when == "call" and report.passed:
        note = str(dict(report.user_properties).get(NOTE, ""))
        return {"outcome": Outcome.PASS, "duration": report.duration, "message": note}
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        return {"outcome": Outcome.SKIP, "duration": report.duration, "message": reason}
    if not report.failed:
        return None
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, ClauseViolation):
        return {
            "outcome": Outcome.FAIL,
            "duration": report.duration,
            "message": exc.title,
            "expected": exc.expected,
            "actual": exc.actual,
            "curl": exc.curl,
        }
    if isinstance(exc, UNREACHABLE):
        message = f"target unreachable: {exc} (is it running at the URL of --target?)"
        return {"outcome": Outcome.ERROR, "duration": report.duration, "message": message}
    if report.when == "call" and isinstance(exc, AssertionError):
        return {"outcome": Outcome.FAIL, "duration": report.duration, "message": str(exc)[:2000]}
    text = f"{type(exc).__name__}: {exc}" if exc is not None else str(report.longrepr)[:2000]
    text = f"{text[:1900]} ({report.when}; rerun with --verbose for pytest's traceback)"
    return {"outcome": Outcome.ERROR, "duration": report.duration, "message": text}


@dataclass
class ClauseRecorder:
    """Collects test results per clause id for one run."""

    catalogue: Catalogue
    profiles: Profiles
    claimed: tuple[str, ...] | None = None
    """Profiles the target claims (``None``: all)."""
    expected: list[str] = field(default_factory=list)
    results: dict[str, list[TestResult]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def expect(self, clause_id: str) -> None:
        if clause_id not in self.expected:
            self.expected.append(clause_id)

    def add(self, clause_id: str, result: TestResult) -> None:
        self.results.setdefault(clause_id, []).append(result)

    def outcome(self, clause_id: str) -> str:
        results = self.results.get(clause_id, [])
        if not results:
            return Outcome.ERROR.value  # selected but never reported: the run was cut short
        worst = max((Outcome(r.outcome) for r in results), key=lambda o: o.rank)
        return worst.value

    def blocking(self, clause_id: str, strict: bool) -> bool:
        level = self.catalogue[clause_id].level
        return level is Level.MUST or (strict and level is Level.SHOULD)

    def verdict(self, strict: bool) -> str:
        return _verdict({c: self.outcome(c) for c in self.expected}, self, strict)

    def profile_outcomes(self, strict: bool) -> list[dict[str, Any]]:
        """Per profile: ``not claimed``, ``not run`` (claimed, but no clause of it was
        selected), ``not verified`` (every clause of it skipped: nothing was checked, so it
        never reads ``pass``), else its verdict over its clauses (``pass``/``fail``/``error``)."""
        result = []
        for profile in self.profiles.profiles:
            ids = [c for c in self.expected if self.profiles.of_clause(c) == profile.name]
            counts = {o.value: 0 for o in Outcome}
            for clause_id in ids:
                counts[self.outcome(clause_id)] += 1
            if self.claimed is not None and profile.name not in self.claimed:
                outcome = "not claimed"
            elif not ids:
                outcome = "not run"
            elif counts[Outcome.SKIP.value] == len(ids):
                outcome = NOT_VERIFIED
            else:
                outcome = _verdict({c: self.outcome(c) for c in ids}, self, strict)
            result.append(
                {"name": profile.name, "title": profile.title, "outcome": outcome, **counts}
            )
        return result

    def exit_code(self, strict: bool) -> int:
        return EXIT_CODES[self.verdict(strict)]

    def as_dict(self, target: dict[str, Any], strict: bool) -> dict[str, Any]:
        clauses = []
        summary = {o.value: 0 for o in Outcome}
        for clause_id in self.expected:
            clause = self.catalogue[clause_id]
            outcome = self.outcome(clause_id)
            summary[outcome] += 1
            clauses.append(
                {
                    "id": clause.id,
                    "level": clause.level.value,
                    "area": clause.area,
                    "profile": self.profiles.of_area(clause.area),
                    "title": clause.title,
                    "requirement": clause.requirement,
                    "outcome": outcome,
                    "blocking": self.blocking(clause_id, strict),
                    "tests": [asdict(r) for r in self.results.get(clause_id, [])],
                }
            )
        return {
            "target": target,
            "strict": strict,
            "catalogue_version": self.catalogue.version,
            "started_at": self.started,
            "duration_s": round(time.time() - self.started, 3),
            "summary": summary,
            "verdict": self.verdict(strict),
            "profiles": self.profile_outcomes(strict),
            "clauses": clauses,
        }

    def write(self, path: Path, target: dict[str, Any], strict: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(target, strict), indent=2) + "\n")


def _verdict(outcomes: dict[str, str], recorder: ClauseRecorder, strict: bool) -> str:
    """``fail`` if a blocking clause failed, else ``error`` if one errored, else ``pass``."""
    if any(o == "fail" and recorder.blocking(c, strict) for c, o in outcomes.items()):
        return "fail"
    if any(o == "error" and recorder.blocking(c, strict) for c, o in outcomes.items()):
        return "error"
    return "pass"

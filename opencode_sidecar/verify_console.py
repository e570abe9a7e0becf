"""``opencode-sidecar verify``'s console: one line per check as it finishes, then the clause
table, the failures (expected, actual, a reproduce line), the profiles and the verdict.
Moved out of :mod:`opencode_sidecar.verify` (which runs the suites)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from suites.plugin.outcomes import NOTE
from suites.plugin.report import SECRET_NOTE, failures, profile_counts, profile_rows, reason

STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "error": "yellow"}


class ProgressPrinter:
    """pytest plugin: one line per check as it finishes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        clauses = dict(report.user_properties).get("clauses", "")
        outcome = {"passed": "pass", "failed": "fail", "skipped": "skip"}[report.outcome]
        if report.when != "call" and report.failed:
            outcome = "error"
        name = report.nodeid.rsplit("::", 1)[-1]
        self.console.print(
            f"  [{STYLE[outcome]}]{outcome:5}[/] {clauses:28} {name} [dim]{report.duration:.2f}s[/]"
        )
        note = dict(report.user_properties).get(NOTE)
        if note and outcome == "pass":
            self.console.print(f"        {note}", style="dim", highlight=False, markup=False)


PROFILE_STYLE = {**STYLE, "not claimed": "dim", "not run": "dim", "not verified": "bold yellow"}


def render(report: dict[str, Any], console: Console) -> None:
    """The clause table (skip and error reasons beneath it), failures with expected, actual
    and a reproduce line, the per-profile verdicts, and the verdict."""
    table = Table(title="Clauses", title_justify="left", show_lines=False)
    for column in ("clause", "profile", "level", "title", "outcome"):
        table.add_column(column)
    for clause in report["clauses"]:
        outcome = clause["outcome"]
        table.add_row(
            clause["id"],
            clause.get("profile", ""),
            clause["level"],
            clause["title"],
            f"[{STYLE[outcome]}]{outcome.upper()}[/]",
        )
    console.print(table)
    for clause in report["clauses"]:
        why = reason(clause)
        if why:
            console.print(
                f"[{STYLE[clause['outcome']]}]{clause['outcome'].upper():5}[/] {clause['id']}: ",
                end="",
            )
            console.print(why, highlight=False, markup=False)
    found = failures(report)
    if any(t.get("curl") for _, t in found):
        console.print(SECRET_NOTE.replace("`", ""), style="dim", highlight=False, markup=False)
    for clause, test in found:
        console.print(
            f"[{STYLE[test['outcome']]}]{clause['id']}[/] ({clause['level']}) ",
            end="",
            highlight=False,
        )
        console.print(test["message"], highlight=False, markup=False)
        if test.get("expected") is not None:
            console.print(f"    Expected: {test['expected']}", highlight=False, markup=False)
            console.print(f"    Actual:   {test['actual']}", highlight=False, markup=False)
        if test.get("curl"):
            console.print(
                f"    Reproduce: {test['curl']}", highlight=False, markup=False, soft_wrap=True
            )
    profiles = Table(title="Profiles", title_justify="left")
    for column in ("profile", "verdict", "clauses", "covers"):
        profiles.add_column(column)
    for row in profile_rows(report):
        style = PROFILE_STYLE[row["outcome"]]
        profiles.add_row(
            row["name"], f"[{style}]{row['outcome'].upper()}[/]", profile_counts(row), row["title"]
        )
    if profile_rows(report):
        console.print(profiles)
    s = report["summary"]
    verdict = report["verdict"]
    colour = {"pass": "bold green", "fail": "bold red", "error": "bold yellow"}[verdict]
    console.print(
        f"[{colour}]Verdict: {verdict.upper()}[/] {s['pass']} passed, {s['fail']} failed, "
        f"{s['skip']} skipped, {s['error']} errors in {report['duration_s']:.1f} s"
        f"{' (strict)' if report['strict'] else ''}"
    )

"""A claimed profile whose every clause skipped reads NOT VERIFIED in every report (console,
Markdown, HTML, JSON, JUnit), never PASS ("durable PASS, 7 skip" read as verified)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from contract import load_catalogue, load_profiles
from opencode_sidecar.verify import render
from suites.plugin.junit import to_junit
from suites.plugin.outcomes import ClauseRecorder, TestResult
from suites.plugin.report import to_html, to_markdown


def _report(tmp_path: Path) -> dict[str, object]:
    catalogue, profiles = load_catalogue(), load_profiles()
    recorder = ClauseRecorder(catalogue, profiles)
    by_profile: dict[str, list[str]] = {}
    for clause in catalogue.active():
        by_profile.setdefault(profiles.of_area(clause.area), []).append(clause.id)
    for clause_id in by_profile["durable"]:
        recorder.expect(clause_id)
        recorder.add(clause_id, TestResult("t.py::x", "skip", 0.0, "pass --x to verify"))
    core = by_profile["core"][0]
    recorder.expect(core)
    recorder.add(core, TestResult("t.py::y", "pass", 0.0))
    path = tmp_path / "r.json"
    recorder.write(path, {"url": "http://x"}, strict=False)
    report: dict[str, object] = json.loads(path.read_text())
    return report


def test_skipped_only_profile_is_not_verified_everywhere(tmp_path: Path) -> None:
    report = _report(tmp_path)
    rows = {p["name"]: p for p in report["profiles"]}  # type: ignore[attr-defined]
    assert rows["durable"]["outcome"] == "not verified"
    assert rows["core"]["outcome"] == "pass"
    assert "| durable | NOT VERIFIED |" in to_markdown(report)
    assert "NOT VERIFIED" in to_html(report) and "not-verified" in to_html(report)
    assert '<property name="outcome" value="not verified" />' in to_junit(report)
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    profiles = text.split("Profiles", 1)[1]
    durable = next(line for line in profiles.splitlines() if "│ durable" in line)
    assert "NOT VERIFIED" in durable and "PASS" not in durable

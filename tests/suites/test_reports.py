"""verify's outputs: JUnit that a JUnit parser loads, Markdown/HTML naming each failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from junitparser import JUnitXml

from suites.clientkit.harness import faulty_argv, python_module, start_server
from suites.plugin.report import to_html

SECRET = "report-secret"


def test_junit_and_reports_name_the_failed_clause(model_url: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    argv = faulty_argv("create_200", workspace, "--secret", SECRET, "--heartbeat-interval", "0.5")
    with start_server(argv) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "verify",
                "--target",
                server.url,
                "--secret",
                SECRET,
                "--model-endpoint",
                model_url,
                "--heartbeat-interval",
                "0.5",
                "--suite",
                "conformance",
                "--only",
                "CREATE-*,PROBE-*",
                "--junit",
                str(tmp_path / "j.xml"),
                "--report",
                str(tmp_path / "r.md"),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stdout[-2000:]
    suite = JUnitXml.fromfile(str(tmp_path / "j.xml"))
    cases = [case for s in suite for case in s]
    assert len(cases) >= 10
    failed = [c for c in cases if not c.is_passed and not c.is_skipped]
    assert [c.name for c in failed] == ["test_valid_create_answers_201"]
    markdown = (tmp_path / "r.md").read_text()
    assert "**Verdict: FAIL**" in markdown
    assert "### CREATE-201 (MUST)" in markdown
    assert "- Expected: `HTTP 201`" in markdown and "- Actual: `HTTP 200" in markdown
    assert "curl " in markdown and SECRET not in markdown
    assert "Verdict: FAIL" in done.stdout and "SSE-" not in done.stdout.split("Clauses")[-1]


def test_html_report_escapes_and_lists_failures() -> None:
    report = {
        "verdict": "fail",
        "strict": False,
        "duration_s": 1.0,
        "target": {"url": "http://x"},
        "summary": {"pass": 0, "fail": 1, "skip": 0, "error": 0},
        "clauses": [
            {
                "id": "CREATE-201",
                "level": "MUST",
                "title": "t <b>",
                "requirement": "r",
                "outcome": "fail",
                "tests": [
                    {
                        "nodeid": "n",
                        "outcome": "fail",
                        "message": "m",
                        "expected": "HTTP 201",
                        "actual": "<200>",
                        "curl": "curl x",
                    }
                ],
            }
        ],
    }
    page = to_html(json.loads(json.dumps(report)))
    assert "CREATE-201" in page and "&lt;200&gt;" in page and "<b>" not in page

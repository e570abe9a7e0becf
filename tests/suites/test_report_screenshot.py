"""The HTML report in a real browser: headless Chromium renders it to a PNG
(scripts/screenshot_report.py) with the profiles, the clause table and a failure."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_report.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["screenshot_report"] = module
    spec.loader.exec_module(module)
    return module


REPORT: dict[str, Any] = {
    "target": {"url": "http://127.0.0.1:3003"},
    "strict": False,
    "duration_s": 12.5,
    "summary": {"pass": 1, "fail": 1, "skip": 1, "error": 0},
    "verdict": "fail",
    "profiles": [
        {"name": "core", "title": "the seed's minimum", "outcome": "pass", "pass": 1},
        {"name": "websocket", "title": "WebSocket", "outcome": "fail", "fail": 1, "skip": 1},
        {"name": "soak", "title": "disconnect hygiene", "outcome": "not claimed"},
    ],
    "clauses": [
        {
            "id": "SSE-RESUME",
            "profile": "core",
            "level": "MUST",
            "title": "Last-Event-ID resumes",
            "requirement": "resume strictly after",
            "outcome": "pass",
            "tests": [{"nodeid": "t.py::a", "outcome": "pass", "duration": 0.1, "message": ""}],
        },
        {
            "id": "WS-UPGRADE",
            "profile": "websocket",
            "level": "MUST",
            "title": "the WebSocket route upgrades",
            "requirement": "101 for a handshake",
            "outcome": "fail",
            "tests": [
                {
                    "nodeid": "t.py::b",
                    "outcome": "fail",
                    "duration": 0.1,
                    "message": "must be upgraded",
                    "expected": "HTTP 101",
                    "actual": "HTTP 404",
                    "curl": "curl -sS -H 'authorization: Bearer '\"$OPENCODE_SHARED_SECRET\" "
                    "http://127.0.0.1:3003/sessions/x/ws",
                }
            ],
        },
        {
            "id": "WS-REPLAY",
            "profile": "websocket",
            "level": "MUST",
            "title": "late subscribers get the history",
            "requirement": "full history",
            "outcome": "skip",
            "tests": [
                {
                    "nodeid": "t.py::c",
                    "outcome": "skip",
                    "duration": 0.0,
                    "message": "precondition WS-UPGRADE not met (see WS-UPGRADE)",
                }
            ],
        },
    ],
}


def test_chromium_renders_the_html_report(tmp_path: Path) -> None:
    script = _script()
    if script.chromium() is None:
        if os.environ.get("CI"):  # .ci/run installs it: CI never skips this check
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from suites.plugin.report import to_html

    page = to_html(REPORT)
    for piece in ("Profiles", "NOT CLAIMED", "WS-UPGRADE", "Expected", "$OPENCODE_SHARED_SECRET"):
        assert piece in page
    shot = script.screenshot(page, tmp_path / "report.png", width=1200, height=900)
    assert script.png_size(shot) == (1200, 900)
    image = Image.open(shot).convert("RGB")
    data = image.tobytes()  # RGB triples
    pixels = [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]
    red = sum(1 for r, g, b in pixels if r > 150 and g < 60 and b < 80)
    dark = sum(1 for r, g, b in pixels if r < 80 and g < 80 and b < 80)
    assert red > 10, "the FAIL verdicts are drawn in red"
    assert dark > 500, "text was drawn"

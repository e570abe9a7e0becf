"""SESSION-TIMEOUT's head start never fails an honest sidecar with a small MAX_SESSIONS:
when there is no room for a session held from the run's start, it is started when its
check comes, and the checks before it still get their sessions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from suites.clientkit.harness import python_module, reference_argv, start_server
from suites.plugin.fixtures import HELD_SESSION_ROOM

SMALL_CAP = "1"
"""One session at a time: a held session would leave CANCEL-200 none (a skip)."""


def test_a_target_without_room_gets_its_timeout_session_when_the_check_comes(
    model_url: str, tmp_path: Path
) -> None:
    assert int(SMALL_CAP) < HELD_SESSION_ROOM
    settings = ("--max-sessions", SMALL_CAP, "--session-timeout", "1")
    argv = reference_argv(tmp_path / "workspace", *settings)
    report = tmp_path / "report.json"
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "verify",
                *("--target", server.url, "--model-endpoint", model_url, *settings),
                *("--suite", "conformance", "--only", "CANCEL-200,SESSION-TIMEOUT"),
                *("--report", str(report)),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    outcomes = {c["id"]: c["outcome"] for c in json.loads(report.read_text())["clauses"]}
    assert outcomes == {"CANCEL-200": "pass", "SESSION-TIMEOUT": "pass"}

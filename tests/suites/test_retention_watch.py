"""The retention watch never fails an honest sidecar: when other suites' sessions push the
watched session out of a small MAX_RETAINED_SESSIONS before RETENTION-READABLE reads it,
a session watched alone is judged instead (and the report says so)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from suites.clientkit.harness import python_module, reference_argv, start_server

RETENTION = "10"
"""Long enough that the conformance tests below finish their sessions before the read at
0.7 of it, on a loaded machine too."""
CAP = "3"
"""Fewer than the sessions CREATE-LIMIT-503 alone starts and cancels."""


def test_a_watched_session_evicted_by_other_suites_is_watched_again_alone(
    model_url: str, tmp_path: Path
) -> None:
    argv = reference_argv(
        tmp_path / "workspace",
        "--max-sessions",
        "3",
        "--session-retention",
        RETENTION,
        "--max-retained-sessions",
        CAP,
    )
    report = tmp_path / "report.json"
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "verify",
                "--target",
                server.url,
                "--model-endpoint",
                model_url,
                "--max-sessions",
                "3",
                "--session-retention",
                RETENTION,
                "--max-retained-sessions",
                CAP,
                "--suite",
                "conformance,retention",
                "--only",
                "CREATE-*,RETENTION-READABLE,RETENTION-EXPIRES",
                "--report",
                str(report),
            ),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    clauses = {c["id"]: c for c in json.loads(report.read_text())["clauses"]}
    assert clauses["RETENTION-READABLE"]["outcome"] == "pass"
    assert clauses["RETENTION-EXPIRES"]["outcome"] == "pass"
    [test] = clauses["RETENTION-READABLE"]["tests"]
    assert "judged a session watched alone" in test["message"], test

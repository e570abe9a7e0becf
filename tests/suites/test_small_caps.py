"""Small caps never fail an honest sidecar. SESSION-TIMEOUT's head start with a small
MAX_SESSIONS: when there is no room for a session held from the run's start, it is started
when its check comes, and the checks before it still get their sessions. A small
MAX_RETAINED_SESSIONS: the finished session conformance read first may be evicted before a
later check goes back to it (``retained_run`` reads another)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from suites.clientkit.harness import python_module, reference_argv, start_server
from suites.plugin.fixtures import early_starts

SMALL_CAP = "1"
"""One session at a time: a held session would leave CANCEL-200 none (a skip)."""


def test_a_target_without_room_gets_its_timeout_session_when_the_check_comes(
    model_url: str, tmp_path: Path
) -> None:
    assert "timeout_run" not in early_starts({"timeout_run"}, int(SMALL_CAP))
    settings = ("--max-sessions", SMALL_CAP, "--session-timeout", "1")
    outcomes = conformance(model_url, tmp_path, settings, "--only", "CANCEL-200,SESSION-TIMEOUT")
    assert outcomes == {"CANCEL-200": "pass", "SESSION-TIMEOUT": "pass"}


SMALL_RETENTION_CAP = "8"
"""Fewer finished sessions than conformance starts after its first recorded run."""


@pytest.mark.parametrize(
    "limit",
    [(), ("--max-sessions", "6")],
    ids=["limit-undeclared-read-in-turn", "limit-declared-read-at-once"],
)
def test_a_small_retention_cap_fails_no_conformance_clause(
    model_url: str, tmp_path: Path, limit: tuple[str, ...]
) -> None:
    settings = (
        *("--max-retained-sessions", SMALL_RETENTION_CAP, "--session-timeout", "3"),
        *("--heartbeat-interval", "0.5", *limit),
    )
    outcomes = conformance(model_url, tmp_path, settings)
    assert set(outcomes.values()) <= {"pass", "skip"}
    skipped = {c for c, o in outcomes.items() if o == "skip"}
    assert skipped == {"AUTH-REQUIRED"}, skipped  # served without a secret: nothing else


def conformance(
    model_url: str, tmp_path: Path, settings: tuple[str, ...], *only: str
) -> dict[str, str]:
    """The reference served with ``settings``, judged by conformance told the same: the
    outcome of each clause."""
    argv = reference_argv(tmp_path / "workspace", *settings)
    report = tmp_path / "report.json"
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "verify",
                *("--target", server.url, "--model-endpoint", model_url, *settings),
                *("--suite", "conformance", *only, "--report", str(report)),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return {c["id"]: c["outcome"] for c in json.loads(report.read_text())["clauses"]}

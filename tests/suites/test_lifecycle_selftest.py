"""The lifecycle state machine passes the reference and catches lifecycle faults."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from suites.harness import faulty_argv, start_server
from tests.suites.test_faulty_selftest import SECRET, outcomes, verify

CAUGHT = [
    "duplicate_accepted",
    "cancel_twice_409",
    "cancel_finished_200",
    "last_event_id_ignored",
    "duplicate_on_resume",
    "no_terminal_event",
]


def _serve(name: str, workspace: Path) -> list[str]:
    return faulty_argv(
        name, workspace, "--secret", SECRET, "--heartbeat-interval", "0.5", "--max-sessions", "3"
    )


@pytest.mark.parametrize("name", ["valid_crlf", *CAUGHT])
def test_state_machine(name: str, model_url: str, tmp_path: Path) -> None:
    with start_server(_serve(name, tmp_path / "ws"), stderr=subprocess.DEVNULL) as server:
        report = verify(
            server.url, model_url, tmp_path / "ws", tmp_path / "r.json", "lifecycle_model"
        )
    expected = set() if name.startswith("valid_") else {"MODEL-LIFECYCLE"}
    assert outcomes(report, "fail") == expected, report["output"]
    assert outcomes(report, "error") == set(), report["output"]

"""Profiles in a verify run: a sidecar without the WebSocket passes ``--profile core``
with websocket "not claimed", and the default run fails only WS-UPGRADE, once, while no
SSE clause errors or depends on the WebSocket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from suites.clientkit.harness import faulty_argv, python_module, start_server

SECRET = "profile-secret"
DECLARED = ("--heartbeat-interval", "0.5", "--session-timeout", "2.5", "--max-sessions", "3")


def _verify(url: str, model_url: str, report: Path, *extra: str) -> dict[str, Any]:
    argv = python_module(
        "opencode_sidecar",
        "verify",
        "--target",
        url,
        "--secret",
        SECRET,
        "--model-endpoint",
        model_url,
        "--suite",
        "conformance",
        "--report",
        str(report),
        *DECLARED,
        *extra,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(report.read_text())
    result["exit_code"], result["output"] = done.returncode, done.stdout
    return result


def test_a_sidecar_without_websocket_claims_core_only(model_url: str, tmp_path: Path) -> None:
    argv = faulty_argv("no_websocket", tmp_path / "ws", "--secret", SECRET, *DECLARED)
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        core = _verify(server.url, model_url, tmp_path / "core.json", "--profile", "core")
        full = _verify(server.url, model_url, tmp_path / "all.json")
    profiles = {p["name"]: p["outcome"] for p in core["profiles"]}
    assert core["verdict"] == "pass" and core["exit_code"] == 0, core["output"]
    assert profiles["core"] == "pass" and profiles["websocket"] == "not claimed"
    assert not [c for c in core["clauses"] if c["profile"] != "core"]
    assert "NOT CLAIMED" in core["output"], core["output"]

    by_outcome: dict[str, set[str]] = {}
    for clause in full["clauses"]:
        by_outcome.setdefault(clause["outcome"], set()).add(clause["id"])
    assert by_outcome.get("fail") == {"WS-UPGRADE"}, full["output"]
    assert "error" not in by_outcome, full["output"]
    assert {c for c in by_outcome["skip"] if not c.startswith("WS-")} <= {"SESSION-TIMEOUT"}
    assert full["output"].count("WS-UPGRADE (MUST)") == 1
    sse = [c for c in full["clauses"] if c["id"].startswith("SSE-")]
    assert sse and all(c["outcome"] == "pass" for c in sse)
    assert {p["name"]: p["outcome"] for p in full["profiles"]}["websocket"] == "fail"


def test_an_unknown_profile_is_refused_naming_the_profiles() -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "verify", "--profile", "core,websockets"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "opencode-sidecar verify: error: argument --profile: unknown websockets "
        "(choose from core, websocket, durable, secured, soak, agent, sandbox, project)"
    )

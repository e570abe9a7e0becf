"""The reference server on the real OpenCode (``opencode serve``), driven by the fake model.

Needs the ``opencode`` binary (``opencode-sidecar install-opencode``). Without it these
tests skip, unless OPENCODE_SIDECAR_REQUIRE_OPENCODE=1 (set by tox, so CI never skips).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import stream_rules, validate_event
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import ServerProcess, python_module, reference_argv, start_server

KEY = "sk-real-opencode-key-31337"


@pytest.fixture(scope="module")
def sidecar(
    opencode_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Path]]:
    workspace = tmp_path_factory.mktemp("opencode") / "ws"
    argv = reference_argv(workspace, "--runtime", "opencode", "--max-sessions", "3")
    env = {"OPENCODE_BIN": str(opencode_bin)}
    with start_server(argv, env=env, timeout=120) as server:
        yield server, workspace


def play(
    client: SidecarClient, model_url: str, scenario: str, **extra: object
) -> tuple[str, list[tuple[str, dict[str, object]]]]:
    session_id = str(uuid.uuid4())
    created = client.create_session(
        session_id, "Do as scripted.", model_config(scenario, model_url, KEY, **extra)
    )
    assert created.status_code == 201, created.text
    stream = client.collect(session_id, read_timeout=60)
    events = [(e.event, json.loads(e.data)) for e in stream.events if e.event != "heartbeat"]
    for kind, data in events:
        validate_event(kind, data)
    return session_id, events


def test_a_scenarios_file_changes_are_in_the_workspace(
    sidecar: tuple[ServerProcess, Path], model_url: str
) -> None:
    server, workspace = sidecar
    with SidecarClient(server.url) as client:
        session_id, events = play(client, model_url, "read_edit_bash")
    kinds = [k for k, _ in events]
    assert stream_rules().is_terminal(kinds[-1], events[-1][1])
    assert kinds[-1] == "complete", events[-1]
    assert (workspace / session_id / "notes.txt").read_text() == "alpha\ngamma\n"
    assert events[-1][1]["files_modified"] == ["notes.txt"]
    calls = [d["call_id"] for k, d in events if k == "tool_call"]
    results = [d["call_id"] for k, d in events if k == "tool_result"]
    tools = [d["tool"] for k, d in events if k == "tool_call"]
    assert tools == ["write", "read", "edit", "bash"]
    assert calls == results
    assert KEY not in json.dumps(events)


def test_the_model_failing_ends_the_session_with_a_fatal_model_error(
    sidecar: tuple[ServerProcess, Path], model_url: str
) -> None:
    server, _ = sidecar
    with SidecarClient(server.url) as client:
        _, events = play(client, model_url, "model_500")
    kind, data = events[-1]
    assert kind == "error"
    assert data["fatal"] is True
    assert data["code"] == "model_error"


def test_cancel_aborts_the_opencode_session(
    sidecar: tuple[ServerProcess, Path], model_url: str
) -> None:
    server, _ = sidecar
    with SidecarClient(server.url) as client:
        session_id = str(uuid.uuid4())
        config = model_config("long_running", model_url, KEY)
        assert client.create_session(session_id, "wait", config).status_code == 201
        with client.open_stream(session_id, read_timeout=60) as stream:
            while not any(e.event == "tool_call" for e in stream.events):
                client.read_events(stream, limit=1)
        assert client.cancel(session_id).status_code == 200
        rules = stream_rules()
        last = client.collect(session_id).events[-1]
        assert last.event == rules.cancel_event
        assert rules.cancel_data.items() <= json.loads(last.data).items()
        seen = _requests(client, model_url, "long_running")
        time.sleep(2.0)
        assert _requests(client, model_url, "long_running") == seen, "OpenCode kept working"


def _requests(client: SidecarClient, model_url: str, model: str) -> int:
    base = model_url.removesuffix("/v1")
    response = client.http.get(f"{base}/_fake/requests", params={"model": model})
    return len(response.json())


def test_a_missing_binary_is_a_one_line_error_naming_the_install_command(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "serve", "--runtime", "opencode", "--port", "0"),
        env={**os.environ, "OPENCODE_BIN": str(tmp_path / "nope"), "WORKSPACE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "install-opencode" in line


def test_the_trace_clause_passes_on_the_real_opencode(
    sidecar: tuple[ServerProcess, Path], model_url: str, tmp_path: Path
) -> None:
    """TRACE-MODEL-PARENT, judged by verify: OpenCode's model calls, relayed to the
    session's endpoint, carry the trace of the POST /sessions."""
    server, _ = sidecar
    report = tmp_path / "report.json"
    done = subprocess.run(
        python_module(
            "opencode_sidecar",
            "verify",
            *("--target", server.url, "--model-endpoint", model_url, "--suite", "agent"),
            *("--only", "TRACE-MODEL-PARENT", "--report", str(report)),
        ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    clauses = {c["id"]: c for c in json.loads(report.read_text())["clauses"]}
    assert clauses["TRACE-MODEL-PARENT"]["outcome"] == "pass", clauses["TRACE-MODEL-PARENT"]

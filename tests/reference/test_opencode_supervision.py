"""The shared OpenCode, supervised: killed (-9) or stopped (SIGSTOP: alive, not answering)
mid-session, the running session ends with the documented ``runtime_error`` (the events it
already sent kept), ``/ready`` reports why, and a session started afterwards completes.

Needs the ``opencode`` binary (``opencode-sidecar install-opencode``); skipped without it
unless OPENCODE_SIDECAR_REQUIRE_OPENCODE=1 (set by tox).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from contract import status_for
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import ServerProcess, reference_argv, start_server

KEY = "sk-supervision-key"
WEDGE_TIMEOUT = 8.0


@pytest.fixture
def sidecar(opencode_bin: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    argv = reference_argv(tmp_path / "ws", "--runtime", "opencode", "--max-sessions", "2")
    env = {
        "OPENCODE_BIN": str(opencode_bin),
        "OPENCODE_PROBE_INTERVAL": "0.5",
        "OPENCODE_WEDGE_TIMEOUT": str(WEDGE_TIMEOUT),
    }
    with start_server(argv, env=env, timeout=120) as server:
        yield server


def shared_opencode(server: ServerProcess) -> psutil.Process:
    """The one ``opencode serve`` under the sidecar (the launcher execs into it)."""
    found = [
        p
        for p in psutil.Process(server.process.pid).children(recursive=True)
        if "serve" in p.cmdline() and any(part.endswith("opencode") for part in p.cmdline()[:1])
    ]
    assert len(found) == 1, [p.cmdline() for p in found]
    return found[0]


def start_long_session(client: SidecarClient, model_url: str) -> str:
    session_id = str(uuid.uuid4())
    config = model_config("long_running", model_url, KEY)
    assert client.create_session(session_id, "wait", config).status_code == 201
    with client.open_stream(session_id, read_timeout=60) as stream:
        while not any(e.event == "tool_result" for e in stream.events):
            assert not stream.ended, [(e.event, e.data) for e in stream.events]
            client.read_events(stream, limit=1)
    return session_id


def watch_not_ready(client: SidecarClient, within: float) -> str:
    """The first reason ``/ready`` gives within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = client.http.get("/ready")
        if response.status_code == status_for("getReadiness", "not_ready"):
            return str(response.json()["error"])
        time.sleep(0.05)
    raise AssertionError(f"/ready never reported the shared OpenCode within {within:g} s")


def wait_ready(client: SidecarClient, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while client.http.get("/ready").status_code != status_for("getReadiness", "ready"):
        assert time.monotonic() < deadline, "the sidecar did not become ready again"
        time.sleep(0.2)


def ended_with(client: SidecarClient, session_id: str) -> list[tuple[str, dict[str, object]]]:
    stream = client.collect(session_id, read_timeout=60)
    return [(e.event, json.loads(e.data)) for e in stream.events if e.event != "heartbeat"]


def after_restart_a_session_completes(client: SidecarClient, model_url: str) -> None:
    wait_ready(client)
    session_id = str(uuid.uuid4())
    config = model_config("read_edit_bash", model_url, KEY)
    assert client.create_session(session_id, "Do as scripted.", config).status_code == 201
    kind, data = ended_with(client, session_id)[-1]
    assert kind == "complete", data


@pytest.mark.parametrize(
    ("sig", "said"),
    [(signal.SIGKILL, "opencode exited"), (signal.SIGSTOP, "opencode stopped answering")],
    ids=["killed", "stopped"],
)
def test_a_dead_or_wedged_opencode_ends_its_sessions_and_is_restarted(
    sidecar: ServerProcess, model_url: str, sig: signal.Signals, said: str
) -> None:
    with SidecarClient(sidecar.url) as client:
        session_id = start_long_session(client, model_url)
        victim = shared_opencode(sidecar)
        victim.send_signal(sig)
        reason = watch_not_ready(client, WEDGE_TIMEOUT + 10)
        assert said in reason, reason
        events = ended_with(client, session_id)
        kind, data = events[-1]
        assert kind == "error", events[-3:]
        assert data["fatal"] is True
        assert data["code"] == "runtime_error"
        assert said in str(data["error"])
        assert any(k == "tool_result" for k, _ in events), "events already sent were lost"
        _, alive = psutil.wait_procs([victim], timeout=10)
        assert not alive, "the dead or stopped OpenCode was left behind"
        after_restart_a_session_completes(client, model_url)
        assert shared_opencode(sidecar).pid != victim.pid

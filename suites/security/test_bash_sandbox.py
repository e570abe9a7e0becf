"""The confinement of bash and of links between sessions, driven through the fake model:
what a command can read outside its workspace, in a running peer's workspace, in the
sidecar's process; what the file tools reach through links toward a peer.

The peer's id reaches the scripted tool calls through the prompt (``peer=<id>``: the fake
model fills ``{{peer}}`` in its tool arguments), so the checks hold on any target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from suites.checks.verdict import check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, data_of, record
from suites.plugin.fixtures import SessionFactory
from suites.plugin.target import TargetOptions
from suites.security._support import PASSWD_LINE, SECRET_ENV, finished, leaks

PEER = "sandbox_peer"
PEER_CANARY = "SANDBOX-CANARY-7f3a9c"
"""The text scenario ``sandbox_peer`` writes into its workspace (a test pins the two)."""
ESCAPE_MARKER = "WROTE-OUTSIDE"
ESCAPE_FILE = "sandbox_bash_escape.txt"
PEER_WAIT_EVENTS = 12
"""How many of the peer's first events to wait through for its write's tool_result."""


def tool_outputs(recording: Recording) -> list[tuple[str, str]]:
    """(where, text) of what the session's tools and model answered (never the tool_call
    arguments, which hold the scripted commands themselves)."""
    found = []
    for event in recording.events:
        if event.event in ("tool_result", "output", "complete", "error"):
            found.append((f"event {event.id} {event.event}", event.data))
    return found


def _wait_for_write(sidecar: SidecarClient, session_id: str, max_silence: float) -> None:
    for count in range(3, PEER_WAIT_EVENTS + 1):
        recording = record(sidecar, session_id, max_silence=max_silence, stop_after_events=count)
        for event in recording.events:
            data = data_of(event)
            if event.event == "tool_result" and isinstance(data, dict):
                if "error" in (data.get("result") or {}):
                    precondition_failed("SANDBOX-PATHS", f"the peer could not write: {data}")
                return
        if recording.terminal_index() is not None or len(recording.numbered()) < count:
            break
    precondition_failed("SSE-TOOL-PAIRING", "the peer session reported no tool_result")


@pytest.fixture
def running_peer(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> Iterator[str]:
    """A session that wrote its canary file and is still running."""
    peer = sessions.start(PEER)
    _wait_for_write(sidecar, peer, max_silence)
    yield peer
    sidecar.cancel(peer)


def _play_against(
    scenario: str, peer: str, sidecar: SidecarClient, sessions: SessionFactory, silence: float
) -> Recording:
    session_id = sessions.start(scenario, prompt=f"Do as scripted. peer={peer}")
    return finished(sidecar, session_id, silence)


def _peer_text_in(recording: Recording) -> list[str]:
    return [where for where, text in tool_outputs(recording) if PEER_CANARY in text]


@pytest.mark.clause("SANDBOX-BASH-FILES")
def test_bash_reads_and_writes_nothing_outside(
    target: TargetOptions, sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    started = time.time()
    session_id = sessions.start("sandbox_bash_outside")
    recording = finished(sidecar, session_id, max_silence)
    texts = tool_outputs(recording)
    found = [f"a passwd line in {w}" for w, t in texts if PASSWD_LINE.search(t)]
    found += [f"{ESCAPE_MARKER} in {w}" for w, t in texts if ESCAPE_MARKER in t]
    if target.workspace is not None:
        beside = Path(target.workspace) / ESCAPE_FILE
        if beside.exists() and beside.stat().st_mtime >= started - 1:
            found.append(f"{beside} was written")
    check(
        not found,
        "bash must read and write nothing outside its workspace but the system's programs",
        "no passwd line, no write beside the workspace",
        found,
    )


@pytest.mark.clause("SANDBOX-BASH-PEER")
def test_bash_cannot_read_a_running_peer(
    running_peer: str, sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    recording = _play_against("sandbox_bash_peer", running_peer, sidecar, sessions, max_silence)
    found = _peer_text_in(recording)
    check(not found, "bash must not read another session's workspace", "no peer text", found)


@pytest.mark.clause("SANDBOX-LINKS-PEER")
def test_file_tools_cannot_follow_links_to_a_peer(
    running_peer: str, sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    recording = _play_against("sandbox_links_peer", running_peer, sidecar, sessions, max_silence)
    executed = []
    for event in recording.events:
        data = data_of(event)
        if event.event == "tool_result" and isinstance(data, dict) and data.get("tool") == "read":
            result = data.get("result")
            if not isinstance(result, dict) or "error" not in result:
                executed.append(f"read {data.get('call_id')}: {str(result)[:200]}")
    if not any(e.event == "tool_result" for e in recording.events):
        precondition_failed("SSE-TOOL-PAIRING", "no tool_result was reported")
    found = executed + _peer_text_in(recording)
    check(
        not found,
        "a read through a link toward another session must end in a tool error",
        "a tool error for every read, no peer text",
        found,
    )


@pytest.mark.clause("SANDBOX-BASH-PROC-ENV")
def test_bash_cannot_read_the_sidecars_process(
    target: TargetOptions,
    sidecar: SidecarClient,
    sessions: SessionFactory,
    api_key: str,
    max_silence: float,
) -> None:
    session_id = sessions.start("sandbox_bash_environ")
    recording = finished(sidecar, session_id, max_silence)
    texts = tool_outputs(recording)
    found = [f"api_key in {where}" for where in leaks(api_key, texts)]
    if target.secret:
        found += [f"shared secret in {where}" for where in leaks(target.secret, texts)]
    found += [f"OPENCODE_SHARED_SECRET set in {w}" for w, t in texts if SECRET_ENV.search(t)]
    check(
        not found,
        "bash must not read the environment or command line of the sidecar's process",
        "none of the sidecar's secrets",
        found,
    )


TMPDIR_SCENARIO = "sandbox_bash_tmpdir"
TMPDIR_MARKER = "TMP-OK"


@pytest.mark.clause("SANDBOX-BASH-TMPDIR")
def test_bash_has_a_temporary_directory_it_may_write(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    recording = finished(sidecar, sessions.start(TMPDIR_SCENARIO), max_silence)
    results = [
        data.get("result")
        for event in recording.events
        if event.event == "tool_result" and isinstance(data := data_of(event), dict)
    ]
    if not results:
        precondition_failed("SSE-TOOL-PAIRING", f"{TMPDIR_SCENARIO}: no tool_result")
    check(
        any(isinstance(r, dict) and TMPDIR_MARKER in str(r.get("output", "")) for r in results),
        "bash must find a temporary directory it may write (TMPDIR, TMP, TEMP: tools.yaml "
        "sandbox.tmpdir), since /tmp is closed to confined commands: mktemp, write, read back",
        f"a success result whose output holds {TMPDIR_MARKER}",
        results,
    )

"""The tool sandbox, driven through the fake model: escapes from the workspace, and the
environment bash runs with."""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath

import pytest

from contract import status_for
from suites.checks.verdict import check, precondition_failed, violation
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, data_of
from suites.plugin.fixtures import SessionFactory
from suites.plugin.target import TargetOptions
from suites.security._support import PASSWD_LINE, SECRET_ENV, finished, leaks, stream_texts

ESCAPES = ("escape_dotdot", "escape_absolute", "escape_symlink", "escape_hardlink")
"""Scenarios of the fake model whose file tool calls all try to leave the workspace."""
BASH_ENV_LEAK = "bash_env_leak"
FILE_TOOLS = ("read", "write", "edit")
STREAM_OK = status_for("streamSession", "stream")


def _escaped_writes(
    recording: Recording, workspace: Path, session_id: str, started: float
) -> list[str]:
    """Files the session's writes would have created outside its workspace."""
    own = workspace / session_id
    found = []
    for event in recording.events:
        data = data_of(event)
        if event.event != "tool_call" or not isinstance(data, dict):
            continue
        if data.get("tool") not in ("write", "edit"):
            continue
        raw = str(data.get("args", {}).get("filePath", ""))
        name = PurePosixPath(raw).name
        # Relative escapes land next to the workspace; an absolute path may be shared by
        # other runs on this machine, so the events alone judge it.
        places = [own.parent / name, own.parent.parent / name]
        for place in places:
            if place.exists() and place.stat().st_mtime >= started - 1:
                found.append(str(place))
    return found


@pytest.mark.clause("SANDBOX-PATHS")
@pytest.mark.parametrize("scenario", ESCAPES)
def test_file_tools_cannot_leave_the_workspace(
    scenario: str,
    target: TargetOptions,
    sidecar: SidecarClient,
    sessions: SessionFactory,
    max_silence: float,
) -> None:
    started = time.time()
    session_id = sessions.start(scenario)
    recording = finished(sidecar, session_id, max_silence)
    calls = {}
    results = {}
    for event in recording.events:
        data = data_of(event)
        if not isinstance(data, dict):
            continue
        if event.event == "tool_call" and data.get("tool") in FILE_TOOLS:
            calls[data.get("call_id")] = data
        elif event.event == "tool_result":
            results[data.get("call_id")] = data
    if not calls:
        precondition_failed("SSE-TOOL-PAIRING", f"{scenario}: no file tool call was reported")
    obeyed = []
    for call_id, call in calls.items():
        result = results.get(call_id, {}).get("result", {})
        if not isinstance(result, dict) or "error" not in result:
            obeyed.append(f"{call['tool']} {call.get('args', {}).get('filePath')!r}: {result}")
    read_out = [t for t in stream_texts(scenario, recording) if PASSWD_LINE.search(t[1])]
    if obeyed or read_out:
        violation(
            f"{scenario}: a file tool call that leaves the workspace must end in a tool error",
            "a tool_result with an error for every escape",
            {"executed": obeyed, "outside content in": [w for w, _ in read_out]},
        )
    if target.workspace is not None:
        outside = _escaped_writes(recording, target.workspace, session_id, started)
        check(not outside, f"{scenario}: nothing may be written outside", "no file", outside)


@pytest.mark.clause("SANDBOX-BASH-ENV")
def test_bash_runs_without_the_secrets(
    target: TargetOptions,
    sidecar: SidecarClient,
    sessions: SessionFactory,
    api_key: str,
    max_silence: float,
) -> None:
    session_id = sessions.start(BASH_ENV_LEAK)
    recording = finished(sidecar, session_id, max_silence)
    texts = stream_texts(BASH_ENV_LEAK, recording)
    found = [f"api_key in {where}" for where in leaks(api_key, texts)]
    if target.secret:
        found += [f"shared secret in {where}" for where in leaks(target.secret, texts)]
    found += [f"OPENCODE_SHARED_SECRET set in {w}" for w, t in texts if SECRET_ENV.search(t)]
    check(not found, "bash's environment must hold none of the sidecar's secrets", "none", found)

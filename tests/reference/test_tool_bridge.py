"""The tool bridge the shared OpenCode's custom tools call: a call runs in its session's
workspace only (confined), an unknown session, a missing token, a tool the session did not
enable and a gate's refusal are refused; paths under OpenCode's working directory are the
session's workspace's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reference_server.runtime import ModelConfig, SessionSpec
from reference_server.runtimes.tool_bridge import REFUSED_BUILTINS, ToolBridge, rebased
from reference_server.sandbox import Sandbox


def spec(workspace: Path, tools: tuple[str, ...] = ("read", "write", "bash")) -> SessionSpec:
    model = ModelConfig("openai", "m", "sk-test", enabled_tools=tools)
    return SessionSpec(workspace.name, "p", model, workspace)


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[ToolBridge]:

    async def gate(session: SessionSpec, tool: str, args: Mapping[str, Any]) -> str | None:
        return "the gate says no" if "forbidden" in str(args) else None

    bridge = ToolBridge(Sandbox.probe("best-effort"), 5.0, 1024, tmp_path / "oc", gate)
    await bridge.start()
    yield bridge
    await bridge.close()


async def call(bridge: ToolBridge, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or bridge.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(bridge.url, json=body) as response,
    ):
        return response.status, await response.json()


async def test_calls_run_in_their_own_sessions_workspace(
    bridge: ToolBridge, tmp_path: Path
) -> None:
    mine, peer = tmp_path / "mine", tmp_path / "peer"
    mine.mkdir()
    peer.mkdir()
    (peer / "secret.txt").write_text("peer canary")
    bridge.attach("oc-mine", spec(mine))
    status, answer = await call(
        bridge,
        {"tool": "write", "args": {"filePath": "a.txt", "content": "hi"}, "session": "oc-mine"},
    )
    assert status == 200 and "output" in answer, answer
    assert (mine / "a.txt").read_text() == "hi"
    _, answer = await call(
        bridge,
        {"tool": "read", "args": {"filePath": str(peer / "secret.txt")}, "session": "oc-mine"},
    )
    assert "error" in answer and "peer canary" not in str(answer)
    _, answer = await call(
        bridge, {"tool": "bash", "args": {"command": "pwd"}, "session": "oc-mine"}
    )
    assert answer["output"].strip() == str(mine.resolve())


async def test_refusals(bridge: ToolBridge, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    bridge.attach("oc-1", spec(tmp_path / "ws", tools=("read",)))
    status, _ = await call(bridge, {"tool": "read", "args": {}, "session": "oc-1"}, token="wrong")
    assert status == 401
    _, answer = await call(bridge, {"tool": "read", "args": {"filePath": "x"}, "session": "oc-2"})
    assert "no running session" in answer["error"]
    _, answer = await call(bridge, {"tool": "bash", "args": {"command": "true"}, "session": "oc-1"})
    assert "not enabled" in answer["error"]
    _, answer = await call(
        bridge, {"tool": "read", "args": {"filePath": "forbidden"}, "session": "oc-1"}
    )
    assert answer == {"error": "the gate says no"}
    bridge.detach("oc-1")
    _, answer = await call(bridge, {"tool": "read", "args": {"filePath": "x"}, "session": "oc-1"})
    assert "no running session" in answer["error"]


def test_paths_under_opencodes_directory_are_the_workspaces(tmp_path: Path) -> None:
    directory, workspace = tmp_path / "oc", tmp_path / "ws"
    args = rebased({"filePath": str(directory / "src" / "a.py")}, directory, workspace)
    assert args["filePath"] == str(workspace / "src" / "a.py")
    assert rebased({"filePath": "/etc/passwd"}, directory, workspace)["filePath"] == "/etc/passwd"
    command = rebased({"command": f"cat {directory}/a"}, directory, workspace)["command"]
    assert command == f"cat {workspace}/a"


def test_every_other_disk_tool_of_opencode_is_replaced(bridge: ToolBridge) -> None:
    files = bridge.files()
    for name in ("read", "write", "edit", "bash", *REFUSED_BUILTINS):
        assert f"tools/{name}.js" in files
    assert bridge.token in files["tools/read.js"]
    assert "not available" in files["tools/glob.js"]

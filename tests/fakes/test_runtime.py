"""The fake OpenCode runtime: a real agent loop, confined tools, model faults."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from fakes.model_server import ModelServer
from fakes.runtime import FakeOpenCodeRuntime
from fakes.tools import WorkspaceTools
from fakes.workspace_files import ToolError
from reference_server.runtime import (
    ALLOWED,
    ModelConfig,
    RunResult,
    RuntimeFailure,
    SessionSpec,
    ToolPermission,
)
from suites.clientkit.waiting import until


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def output(self, text: str, stream: str = "stdout") -> None:
        self.events.append(("output", text))

    def tool_call(self, call_id: str, tool: str, args: Mapping[str, Any]) -> None:
        self.events.append(("tool_call", (call_id, tool, dict(args))))

    def tool_result(self, call_id: str, tool: str, result: Mapping[str, Any]) -> None:
        self.events.append(("tool_result", (call_id, tool, dict(result))))

    def progress(self, progress: int) -> None:
        self.events.append(("progress", progress))

    def warning(self, message: str) -> None:
        self.events.append(("warning", message))

    def model_call(self, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.events.append(("model_call", outcome))

    async def authorize(self, call_id: str, tool: str, args: Mapping[str, Any]) -> ToolPermission:
        return ALLOWED

    def kinds(self, kind: str) -> list[Any]:
        return [v for k, v in self.events if k == kind]


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture
async def runtime() -> AsyncIterator[FakeOpenCodeRuntime]:
    rt = FakeOpenCodeRuntime(read_timeout=1.0, bash_timeout=2.0)
    await rt.start()
    yield rt
    await rt.close()


def spec(tmp_path: Path, scenario: str, endpoint: str, **model: Any) -> SessionSpec:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return SessionSpec(
        session_id="s1",
        prompt="do it",
        workspace=workspace,
        system_prompt="Be brief.",
        model=ModelConfig(
            provider="openai",
            model=scenario,
            api_key="sk-runtime-secret",
            enabled_tools=("read", "write", "edit", "bash"),
            api_endpoint=endpoint,
            **model,
        ),
    )


async def test_read_edit_bash_leaves_exactly_the_expected_workspace(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    sink = RecordingSink()
    the_spec = spec(tmp_path, "read_edit_bash", model.url)
    result = await runtime.run(the_spec, sink)
    assert result == RunResult("notes.txt now reads alpha and gamma.", ("notes.txt",))
    assert sorted(p.name for p in the_spec.workspace.iterdir()) == ["notes.txt"]
    assert (the_spec.workspace / "notes.txt").read_text() == "alpha\ngamma\n"
    assert [c[1] for c in sink.kinds("tool_call")] == ["write", "read", "edit", "bash"]
    assert [r[0] for r in sink.kinds("tool_result")] == [c[0] for c in sink.kinds("tool_call")]
    assert sink.kinds("tool_result")[3][2] == {"output": "alpha\ngamma\n"}
    requests = model.recorder.for_model("read_edit_bash")
    assert len(requests) == 5
    assert requests[0].messages[0] == {"role": "system", "content": "Be brief."}
    tool_messages = [m["content"] for m in requests[-1].messages if m["role"] == "tool"]
    assert tool_messages[1] == "alpha\nbeta\n" and tool_messages[3] == "alpha\ngamma\n"
    assert all(r.authorization == "Bearer sk-runtime-secret" for r in requests)
    progress = sink.kinds("progress")
    assert progress == sorted(progress)


async def test_tool_errors_are_not_fatal(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    sink = RecordingSink()
    result = await runtime.run(spec(tmp_path, "tool_error", model.url), sink)
    assert result.final_message == "The file does not exist."
    assert "error" in sink.kinds("tool_result")[0][2]
    assert sink.kinds("warning")


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ("model_500", "model_error"),
        ("model_429", "model_error"),
        ("malformed_stream", "model_protocol_error"),
        ("dropped_connection", "model_error"),
        ("model_stall", "model_timeout"),
    ],
)
async def test_model_faults_become_runtime_failures(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime, scenario: str, code: str
) -> None:
    sink = RecordingSink()
    with pytest.raises(RuntimeFailure) as caught:
        await runtime.run(spec(tmp_path, scenario, model.url), sink)
    assert caught.value.code == code
    assert "sk-runtime-secret" not in caught.value.message
    assert sink.kinds("model_call")[-1] == code  # the metrics see the failed model call


async def test_unreachable_model(tmp_path: Path, runtime: FakeOpenCodeRuntime) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        await runtime.run(spec(tmp_path, "quick", "http://127.0.0.1:9/v1"), RecordingSink())
    assert caught.value.code == "model_unreachable"


async def test_cancellation_kills_the_running_command(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    sink = RecordingSink()
    task = asyncio.create_task(runtime.run(spec(tmp_path, "long_running", model.url), sink))
    await until(lambda: sink.kinds("tool_call"), 10.0, "a tool call")
    await until(sleeping_children, 10.0, "the command running")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: not sleeping_children(), 5.0, "no `sleep` child left")


def sleeping_children() -> list[psutil.Process]:
    """This process's descendants running ``sleep`` (the long_running scenario's command)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "sleep" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:  # ended between the listing and the read
            continue
    return found


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "sub/../../x", "link/out.txt"])
async def test_paths_outside_the_workspace_are_refused(tmp_path: Path, path: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    tools = WorkspaceTools(root)
    with pytest.raises(ToolError, match="outside the workspace"):
        await tools.run("write", {"filePath": path, "content": "x"})
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out.txt").exists()


async def test_hard_links_to_outside_files_are_not_written_through(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("keep")
    os.link(outside, root / "alias.txt")
    with pytest.raises(ToolError, match="hard link"):
        await WorkspaceTools(root).run("write", {"filePath": "alias.txt", "content": "x"})
    assert outside.read_text() == "keep"


async def test_bash_runs_without_the_sidecars_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCODE_SHARED_SECRET", "do-not-leak")
    root = tmp_path / "ws"
    root.mkdir()
    output = await WorkspaceTools(root).run("bash", {"command": "env"})
    assert "do-not-leak" not in output and f"HOME={root}" in output


async def test_bash_timeout_and_disabled_tools(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    with pytest.raises(ToolError, match="timed out"):
        await WorkspaceTools(root, bash_timeout=0.2).run("bash", {"command": "sleep 5"})
    sink = RecordingSink()
    only_read = spec(tmp_path, "hello_write", model.url)
    only_read = SessionSpec(
        only_read.session_id,
        only_read.prompt,
        ModelConfig("openai", "hello_write", "k", enabled_tools=("read",), api_endpoint=model.url),
        only_read.workspace,
    )
    await runtime.run(only_read, sink)
    assert "not enabled" in sink.kinds("tool_result")[0][2]["error"]
    assert not (only_read.workspace / "hello.txt").exists()


async def test_hard_links_are_neither_read_nor_written(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    os.link(outside, root / "alias.txt")
    tools = WorkspaceTools(root)
    for tool, args in (("read", {}), ("edit", {"oldString": "top", "newString": "no"})):
        with pytest.raises(ToolError, match="hard link"):
            await tools.run(tool, {"filePath": "alias.txt", **args})
    assert outside.read_text() == "top secret"


@pytest.mark.parametrize(
    "scenario", ["escape_dotdot", "escape_absolute", "escape_symlink", "escape_hardlink"]
)
async def test_escape_scenarios_end_in_tool_errors(
    scenario: str, tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    sink = RecordingSink()
    session = spec(tmp_path, scenario, model.url)
    result = await runtime.run(session, sink)
    file_calls = {c[0] for c in sink.kinds("tool_call") if c[1] in ("read", "write", "edit")}
    assert file_calls
    for call_id, _tool, outcome in sink.kinds("tool_result"):
        if call_id in file_calls:
            assert "error" in outcome, (call_id, outcome)
    assert result.files_modified == ()
    for place in (tmp_path, tmp_path.parent):
        assert not [p for p in place.iterdir() if p.name.startswith("escape_")]
    assert "root:" not in repr(sink.events)


async def test_bash_env_leak_scenario_shows_no_secret(
    tmp_path: Path,
    model: ModelServer,
    runtime: FakeOpenCodeRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENCODE_SHARED_SECRET", "sidecar-secret-do-not-leak")
    sink = RecordingSink()
    await runtime.run(spec(tmp_path, "bash_env_leak", model.url), sink)
    ((_, _, outcome),) = sink.kinds("tool_result")
    assert "PATH=" in outcome["output"]
    assert "sidecar-secret-do-not-leak" not in repr(sink.events)
    assert "sk-" not in outcome["output"]


async def test_bash_timeout_scenario_is_bounded(tmp_path: Path, model: ModelServer) -> None:
    from fakes.tools import OUTPUT_CAP

    runtime = FakeOpenCodeRuntime(read_timeout=5.0, bash_timeout=0.3)
    await runtime.start()
    try:
        sink = RecordingSink()
        await runtime.run(spec(tmp_path, "bash_timeout", model.url), sink)
    finally:
        await runtime.close()
    slept, flooded = (r[2] for r in sink.kinds("tool_result"))
    assert "timed out" in slept["error"]
    assert len(flooded["output"]) <= OUTPUT_CAP + 100
    assert "truncated" in flooded["output"]

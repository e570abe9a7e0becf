"""provider anthropic: the fake runtime speaks the Messages API to the fake model, which
serves and audits it; the same tools, semantics and model faults as over OpenAI chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from fakes.model_server import ModelServer
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.runtime import RuntimeFailure, SessionSpec
from tests.fakes.test_runtime import RecordingSink, spec


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


def anthropic(tmp_path: Path, scenario: str, model: ModelServer, **settings: object) -> SessionSpec:
    """A session spec with provider anthropic; api_endpoint without /v1 (model.yaml)."""
    base = spec(tmp_path, scenario, model.url.removesuffix("/v1"), **settings)
    return replace(base, model=replace(base.model, provider="anthropic"))


async def test_the_agent_loop_runs_over_the_messages_api(
    tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    sink = RecordingSink()
    result = await runtime.run(
        anthropic(tmp_path, "agent_tools", model, temperature=0.4, max_tokens=99), sink
    )
    assert (tmp_path / "ws" / "notes.txt").read_text() == "alpha\ngamma\n"
    assert result.files_modified == ("notes.txt",)
    outputs = [r[2] for r in sink.kinds("tool_result")]
    assert outputs[-1] == {"output": "alpha\ngamma\n"}
    requests = model.recorder.for_model("agent_tools")
    assert len(requests) == 6 and all(r.path == "/v1/messages" for r in requests)
    first = requests[0].audit
    assert first is not None and first.problems == []
    assert (first.api_key, first.temperature, first.max_tokens) == ("sk-runtime-secret", 0.4, 99)
    assert (first.system, first.prompt) == ("Be brief.", "do it")
    assert sorted(first.declared_tools or {}) == ["bash", "edit", "read", "write"]


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ("model_500", "model_error"),
        ("malformed_stream", "model_protocol_error"),
        ("model_error_midstream", "model_error"),
        ("dropped_connection", "model_error"),
    ],
)
async def test_model_faults_over_the_messages_api(
    scenario: str, code: str, tmp_path: Path, model: ModelServer, runtime: FakeOpenCodeRuntime
) -> None:
    with pytest.raises(RuntimeFailure) as failure:
        await runtime.run(anthropic(tmp_path, scenario, model), RecordingSink())
    assert failure.value.code == code


def test_an_error_result_goes_back_as_a_tool_result_block_with_is_error(tmp_path: Path) -> None:
    """model.yaml tool_results.anthropic_messages: one user message of tool_result blocks,
    ``is_error`` on the block of an error result."""
    from contract._files import MODEL_PATH, load_data
    from fakes.anthropic_client import messages_body

    rules = load_data(MODEL_PATH)["tool_results"]["anthropic_messages"]["result"]
    base = spec(tmp_path, "tool_error", "http://127.0.0.1:9")
    the_spec = replace(base, model=replace(base.model, provider="anthropic"))
    call = {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
    chat = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Error: missing.txt does not exist"},
    ]
    body = messages_body(the_spec, chat, [])
    last = body["messages"][-1]
    assert last["role"] == rules["role"]
    [block] = last["content"]
    assert set(block) == set(rules["content_block"]) | set(rules["on_error"])
    assert block["type"] == rules["content_block"]["type"] and block["is_error"] is True

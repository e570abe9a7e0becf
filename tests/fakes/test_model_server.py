"""The fake model server speaks the OpenAI wire format, statelessly, under concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from fakes.model_server import ModelServer

TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in ("read", "write", "edit", "bash")
]


def body(
    model: str, assistants: int = 0, stream: bool = True, tools: bool = True
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i in range(assistants):
        messages += [
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "tool", "tool_call_id": f"c{i}", "content": "ok"},
        ]
    result: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if tools:
        result["tools"] = TOOLS
    return result


def chunks(text: str) -> list[Any]:
    lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


async def test_streaming_tool_call_then_text_in_the_openai_format() -> None:
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        first = await http.post(
            "/chat/completions",
            json=body("hello_write"),
            headers={"Authorization": "Bearer sk-abc"},
        )
        assert first.headers["content-type"].startswith("text/event-stream")
        parts = chunks(first.text)
        assert all(p["object"] == "chat.completion.chunk" for p in parts)
        calls = [tc for p in parts for tc in p["choices"][0]["delta"].get("tool_calls", [])]
        assert calls[0]["function"]["name"] == "write" and calls[0]["id"] == "call_0_0"
        args = json.loads("".join(c["function"].get("arguments", "") for c in calls))
        assert args == {"filePath": "hello.txt", "content": "hello world\n"}
        assert parts[-1]["choices"][0]["finish_reason"] == "tool_calls"
        second = chunks((await http.post("/chat/completions", json=body("hello_write", 1))).text)
        text = "".join(p["choices"][0]["delta"].get("content") or "" for p in second)
        assert text == "I wrote hello.txt."
        assert second[-1]["choices"][0]["finish_reason"] == "stop"
        recorded = server.recorder.for_model("hello_write")
        assert recorded[0].authorization == "Bearer sk-abc"
        assert recorded[0].tools == ["read", "write", "edit", "bash"]


async def test_non_streaming_and_no_tools_title_request() -> None:
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        plain = (
            await http.post("/chat/completions", json=body("hello_write", stream=False))
        ).json()
        assert plain["object"] == "chat.completion"
        assert plain["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "write"
        title = (
            await http.post("/chat/completions", json=body("quick", stream=False, tools=False))
        ).json()
        assert title["choices"][0]["message"]["content"] == "Coding session"


async def test_a_scenario_that_needs_tools_or_stream_says_so_in_one_line() -> None:
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        no_tools = await http.post("/chat/completions", json=body("hello_write", tools=False))
        assert no_tools.status_code == 400
        message = no_tools.json()["error"]["message"]
        assert "needs a tools array (it calls write)" in message and "\n" not in message
        batch = await http.post("/chat/completions", json=body("malformed_stream", stream=False))
        assert batch.status_code == 400
        assert 'needs "stream": true' in batch.json()["error"]["message"]


async def test_every_request_is_audited_against_the_model_contract() -> None:
    from contract import tool_contract

    declared = tool_contract().openai_declarations(("read", "edit"))
    bad_edit = {"type": "function", "function": {"name": "edit", "parameters": {}}}
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        good = {**body("quick"), "tools": declared, "temperature": 0.2}
        good["messages"] = [{"role": "system", "content": "sys"}, *good["messages"]]
        await http.post("/chat/completions", json=good, headers={"Authorization": "Bearer k1"})
        await http.post("/chat/completions", json={**body("quick"), "tools": [bad_edit]})
        first, second = (r.audit for r in server.recorder.for_model("quick"))
        assert first is not None and second is not None
        assert (first.api_key, first.temperature, first.system, first.prompt) == (
            "k1",
            0.2,
            "sys",
            "go",
        )
        assert sorted(first.declared_tools or {}) == ["edit", "read"] and first.problems == []
        assert second.api_key is None
        assert any("Authorization" in p for p in second.problems)
        assert any("edit: parameters declare no properties" in p for p in second.problems)
        listed = (await http.get(server.url[: -len("/v1")] + "/_fake/requests")).json()
        assert listed[0]["audit"]["api_key"] == "k1"


async def test_unknown_model_is_an_openai_404_naming_the_scenarios() -> None:
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/chat/completions", json=body("gpt-nope"))
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "model_not_found" and "hello_write" in error["message"]


async def test_http_fault_and_models_list() -> None:
    async with ModelServer() as server, httpx.AsyncClient(base_url=server.url) as http:
        failed = await http.post("/chat/completions", json=body("model_500"))
        assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"
        models = (await http.get("/models")).json()
        assert "quick" in {m["id"] for m in models["data"]}


async def test_fifty_concurrent_conversations_each_get_their_own_script() -> None:
    scripts = ["hello_write", "read_edit_bash", "quick", "tool_error", "chatty"]

    async def conversation(http: httpx.AsyncClient, model: str) -> list[str]:
        seen = []
        for turn in range(6):
            parts = chunks((await http.post("/chat/completions", json=body(model, turn))).text)
            calls = [
                tc["function"]["name"]
                for p in parts
                for tc in p["choices"][0]["delta"].get("tool_calls", [])
                if "function" in tc and tc["function"].get("name")
            ]
            text = "".join(p["choices"][0]["delta"].get("content") or "" for p in parts)
            seen.append(",".join(calls) or text[:12])
            if parts[-1]["choices"][0]["finish_reason"] == "stop":
                break
        return seen

    async with (
        ModelServer() as server,
        httpx.AsyncClient(
            base_url=server.url, limits=httpx.Limits(max_connections=60), timeout=30
        ) as http,
    ):
        results = await asyncio.gather(
            *(conversation(http, scripts[i % len(scripts)]) for i in range(50))
        )
    for i, seen in enumerate(results):
        model = scripts[i % len(scripts)]
        assert seen == results[i % len(scripts)], model
    assert results[1] == ["write", "read", "edit", "bash", "notes.txt no"]

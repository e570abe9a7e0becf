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
            await http.post(
                "/chat/completions", json=body("hello_write", stream=False, tools=False)
            )
        ).json()
        assert title["choices"][0]["message"]["content"] == "Coding session"


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

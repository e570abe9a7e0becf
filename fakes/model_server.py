"""A fake OpenAI-compatible (and Anthropic Messages) model server that plays scenarios.

``POST /v1/chat/completions`` (streaming or not) answers from the scenario named by the
request's ``model``; the turn is the number of assistant messages already in the request,
so the server keeps no conversation state and is safe under any concurrency. Every
request is recorded with its audit against ``contract/model.yaml`` (``GET
/_fake/requests``; see :mod:`fakes.model_audit`) for the suites to judge. A scenario that
needs ``stream: true`` or a ``tools`` array to behave answers a request without them with
a 400 that says so in one line (``python -m fakes list`` says what each needs).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from aiohttp import web

from contract import provider_rules
from fakes.anthropic_api import messages
from fakes.model_audit import audit_request
from fakes.model_recording import (
    RecordedRequest,
    Recorder,
    recorder_key,
    scenarios_key,
    unmet_needs,
)
from fakes.scenarios import Scenario, Turn, bindings_of, load_scenarios

TITLE_REPLY = "Coding session"


_ids = itertools.count(1)


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status
    )


def _chunk(model: str, cid: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _call_id(turn_index: int, n: int) -> str:
    return f"call_{turn_index}_{n}"


async def _stream(
    request: web.Request, model: str, turn: Turn, turn_index: int
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    cid = f"chatcmpl-{next(_ids)}"
    try:
        await response.prepare(request)
        await response.write(_chunk(model, cid, {"role": "assistant", "content": ""}))
    except ConnectionError:
        return response
    try:
        return await _write_turn(request, response, model, cid, turn, turn_index)
    except ConnectionError:  # the agent hung up (cancelled): nothing to report
        return response


async def _write_turn(
    request: web.Request,
    response: web.StreamResponse,
    model: str,
    cid: str,
    turn: Turn,
    turn_index: int,
) -> web.StreamResponse:
    if turn.fault == "stall":
        await asyncio.sleep(turn.fault_value)
    for piece in turn.chunks:
        if turn.delay:
            await asyncio.sleep(turn.delay)
        await response.write(_chunk(model, cid, {"content": piece}))
    if turn.fault == "malformed_chunk":
        await response.write(b"data: {this is not json\n\n")
    elif turn.fault == "error_chunk":  # what OpenAI-compatible servers send when they fail
        error = {"error": {"message": "scripted failure mid-stream", "type": "server_error"}}
        await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
        await response.write_eof()
        return response
    elif turn.fault == "drop_connection":
        if request.transport is not None:
            request.transport.close()
        return response
    elif turn.fault == "endless":
        while True:
            await asyncio.sleep(turn.delay or 0.05)
            await response.write(_chunk(model, cid, {"content": turn.text or "more "}))
    if turn.delay and not turn.chunks and turn.tool_calls:
        await asyncio.sleep(turn.delay)
    for n, call in enumerate(turn.tool_calls):
        head = {
            "index": n,
            "id": _call_id(turn_index, n),
            "type": "function",
            "function": {"name": call.tool, "arguments": ""},
        }
        await response.write(_chunk(model, cid, {"tool_calls": [head]}))
        args = {"index": n, "function": {"arguments": json.dumps(call.args)}}
        await response.write(_chunk(model, cid, {"tool_calls": [args]}))
    finish = "tool_calls" if turn.tool_calls else "stop"
    await response.write(_chunk(model, cid, {}, finish))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _complete(model: str, turn: Turn, turn_index: int) -> web.Response:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(turn_index, n),
                "type": "function",
                "function": {"name": c.tool, "arguments": json.dumps(c.args)},
            }
            for n, c in enumerate(turn.tool_calls)
        ]
    return web.json_response(
        {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if turn.tool_calls else "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    )


async def chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "request body is not JSON", "invalid_request_error")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _error(400, "messages is required", "invalid_request_error")
    model = str(body.get("model", ""))
    tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or []]
    audit = audit_request(provider_rules("openai"), request.headers, body)
    request.app[recorder_key].requests.append(
        RecordedRequest(
            model,
            body["messages"],
            tools,
            bool(body.get("stream")),
            request.headers.get("Authorization"),
            request.path,
            time.time(),
            body.get("temperature"),
            body.get("max_tokens"),
            audit,
        )
    )
    scenarios = request.app[scenarios_key]
    scenario = scenarios.get(model)
    if scenario is None:
        known = ", ".join(sorted(scenarios))
        return _error(
            404,
            f"The model `{model}` does not exist; known scenarios: {known}",
            "invalid_request_error",
            "model_not_found",
        )
    unmet = unmet_needs(scenario, stream=body.get("stream") is True, tools=bool(tools))
    if unmet:
        return _error(400, unmet, "invalid_request_error", "scenario_needs")
    if not tools:  # e.g. an agent asking for a session title: not part of the script
        turn, index = Turn(chunks=(TITLE_REPLY,)), 0
    else:
        script_index, index = scenario.turn_index(body["messages"])
        turn = scenario.turn(script_index).bound(bindings_of(body["messages"]))
    if turn.fault == "http_status":
        status = int(turn.fault_value)
        kind = "rate_limit_error" if status == 429 else "server_error"
        return _error(status, f"scripted failure {status}", kind)
    if body.get("stream"):
        return await _stream(request, model, turn, index)
    if turn.fault == "stall":
        await asyncio.sleep(turn.fault_value)
    return _complete(model, turn, index)


async def list_models(request: web.Request) -> web.Response:
    scenarios = request.app[scenarios_key]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": s.id, "object": "model", "owned_by": "fake", "description": s.description}
                for s in scenarios.values()
            ],
        }
    )


async def recorded(request: web.Request) -> web.Response:
    model = request.query.get("model")
    recorder = request.app[recorder_key]
    items = recorder.for_model(model) if model else list(recorder.requests)
    return web.json_response([asdict(r) for r in items])


async def clear(request: web.Request) -> web.Response:
    request.app[recorder_key].requests.clear()
    return web.json_response({"cleared": True})


def create_model_app(scenarios: Mapping[str, Scenario] | None = None) -> web.Application:
    """The fake model server (no I/O beyond loading the shipped scenarios by default)."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[scenarios_key] = dict(scenarios if scenarios is not None else load_scenarios())
    app[recorder_key] = Recorder()
    app.router.add_post("/v1/messages", messages)  # provider anthropic (model.yaml)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_get(f"{prefix}/models", list_models)
    app.router.add_get("/_fake/requests", recorded)
    app.router.add_delete("/_fake/requests", clear)
    return app


class ModelServer:
    """``async with ModelServer() as server``: serves on 127.0.0.1; ``server.url`` ends in /v1."""

    def __init__(
        self,
        scenarios: Mapping[str, Scenario] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.app = create_model_app(scenarios)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def recorder(self) -> Recorder:
        return self.app[recorder_key]

    async def __aenter__(self) -> ModelServer:
        self._runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def model_server(**kwargs: Any) -> AsyncIterator[ModelServer]:
    async with ModelServer(**kwargs) as server:
        yield server

"""The fake model's Anthropic Messages API (``POST /v1/messages``): the same scenarios,
audit and needs as its OpenAI-compatible endpoint, in Anthropic's wire format (streamed
``message_start`` ... ``message_stop`` events, or one message)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import web

from contract import provider_rules
from fakes.model_audit import audit_request
from fakes.model_recording import RecordedRequest, recorder_key, scenarios_key, unmet_needs
from fakes.scenarios import Scenario, Turn, bindings_of

_ids = itertools.count(1)
TITLE_REPLY = "Coding session"


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _tool_id(turn_index: int, n: int) -> str:
    return f"toolu_{turn_index}_{n}"


def turn_for(scenario: Scenario, body: dict[str, Any], tools: bool) -> tuple[Turn, int]:
    """The scenario's turn for this request: the number of assistant messages so far."""
    if not tools:
        return Turn(chunks=(TITLE_REPLY,)), 0
    messages = body.get("messages") or []
    script_index, index = scenario.turn_index(messages)
    return scenario.turn(script_index).bound(bindings_of(messages)), index


async def _stream(request: web.Request, model: str, turn: Turn, index: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    message: dict[str, Any] = {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "usage": {"input_tokens": 10, "output_tokens": 0},
    }
    try:
        await response.prepare(request)
        await response.write(_event("message_start", {"type": "message_start", "message": message}))
        await _write_turn(request, response, turn, index)
    except ConnectionError:  # the agent hung up
        pass
    return response


async def _write_turn(
    request: web.Request, response: web.StreamResponse, turn: Turn, index: int
) -> None:
    if turn.fault == "stall":
        await asyncio.sleep(turn.fault_value)
    block = 0
    if turn.chunks or turn.fault == "endless":
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        await response.write(_event("content_block_start", start))
        for piece in turn.chunks:
            if turn.delay:
                await asyncio.sleep(turn.delay)
            delta = {"type": "text_delta", "text": piece}
            await response.write(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            )
        block = 1
    if turn.fault == "malformed_chunk":
        await response.write(b"event: content_block_delta\ndata: {this is not json\n\n")
    elif turn.fault == "error_chunk":
        error = {"type": "overloaded_error", "message": "scripted failure mid-stream"}
        await response.write(_event("error", {"type": "error", "error": error}))
        await response.write_eof()
        return
    elif turn.fault == "drop_connection":
        if request.transport is not None:
            request.transport.close()
        return
    elif turn.fault == "endless":
        while True:
            await asyncio.sleep(turn.delay or 0.05)
            delta = {"type": "text_delta", "text": turn.text or "more "}
            await response.write(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            )
    if block:
        await response.write(
            _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        )
    if turn.delay and not turn.chunks and turn.tool_calls:
        await asyncio.sleep(turn.delay)
    for n, call in enumerate(turn.tool_calls):
        i = block + n
        use = {"type": "tool_use", "id": _tool_id(index, n), "name": call.tool, "input": {}}
        await response.write(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": use},
            )
        )
        delta = {"type": "input_json_delta", "partial_json": json.dumps(call.args)}
        await response.write(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}
            )
        )
        await response.write(
            _event("content_block_stop", {"type": "content_block_stop", "index": i})
        )
    stop = "tool_use" if turn.tool_calls else "end_turn"
    await response.write(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 10},
            },
        )
    )
    await response.write(_event("message_stop", {"type": "message_stop"}))
    await response.write_eof()


def _complete(model: str, turn: Turn, index: int) -> web.Response:
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    content += [
        {"type": "tool_use", "id": _tool_id(index, n), "name": c.tool, "input": c.args}
        for n, c in enumerate(turn.tool_calls)
    ]
    return web.json_response(
        {
            "id": f"msg_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if turn.tool_calls else "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 10},
            "created": int(time.time()),
        }
    )


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "request body is not JSON", "invalid_request_error")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _error(400, "messages is required", "invalid_request_error")
    audit = audit_request(provider_rules("anthropic"), request.headers, body)
    tools = sorted(audit.declared_tools or {})
    request.app[recorder_key].requests.append(
        RecordedRequest(
            audit.model,
            body["messages"],
            tools,
            audit.stream,
            request.headers.get("x-api-key"),
            request.path,
            time.time(),
            audit.temperature,
            audit.max_tokens,
            audit,
        )
    )
    scenarios: dict[str, Scenario] = request.app[scenarios_key]
    scenario = scenarios.get(audit.model)
    if scenario is None:
        known = ", ".join(sorted(scenarios))
        return _error(
            404, f"model: {audit.model} does not exist; known: {known}", "not_found_error"
        )
    unmet = unmet_needs(scenario, stream=audit.stream, tools=bool(tools))
    if unmet:
        return _error(400, unmet, "invalid_request_error")
    turn, index = turn_for(scenario, body, bool(tools))
    if turn.fault == "http_status":
        status = int(turn.fault_value)
        kind = "rate_limit_error" if status == 429 else "api_error"
        return _error(status, f"scripted failure {status}", kind)
    if audit.stream:
        return await _stream(request, audit.model, turn, index)
    if turn.fault == "stall":
        await asyncio.sleep(turn.fault_value)
    return _complete(audit.model, turn, index)

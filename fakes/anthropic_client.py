"""The fake runtime's side of the Anthropic Messages API (``provider: anthropic``): the
agent loop keeps its conversation in the OpenAI chat form; this module turns it into a
Messages request body and reads a streamed Messages answer back into a :class:`Reply`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from contract import tool_contract
from fakes.tools import TOOL_ERROR_PREFIX
from reference_server.runtime import EventSink, RuntimeFailure, SessionSpec

DEFAULT_MAX_TOKENS = 4096
"""The Messages API requires max_tokens; openapi.yaml ModelConfig's default."""


def messages_body(
    spec: SessionSpec, chat: list[dict[str, Any]], declared: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Messages request for a conversation held in chat form; ``declared`` are the
    OpenAI declarations of the session's tools (their names pick the contract's)."""
    names = tuple(t["function"]["name"] for t in declared)
    system = "\n".join(str(m["content"]) for m in chat if m["role"] == "system")
    messages: list[dict[str, Any]] = []
    for message in chat:
        role = message["role"]
        if role == "user":
            messages.append({"role": "user", "content": message["content"]})
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            for call in message.get("tool_calls") or []:
                try:
                    args = json.loads(call["function"]["arguments"] or "{}")
                except ValueError:
                    args = {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "input": args if isinstance(args, dict) else {},
                    }
                )
            messages.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": message["content"],
            }
            if str(message["content"]).startswith(TOOL_ERROR_PREFIX):
                result["is_error"] = True  # model.yaml tool_results.anthropic_messages
            if (
                messages
                and messages[-1]["role"] == "user"
                and isinstance(messages[-1]["content"], list)
            ):
                messages[-1]["content"].append(result)
            else:
                messages.append({"role": "user", "content": [result]})
    body = spec.model.request_body(messages=messages, stream=True)
    body.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if system:
        body["system"] = system
    if names:
        body["tools"] = tool_contract().anthropic_declarations(names)
    return body


async def read_messages_stream(
    response: aiohttp.ClientResponse, sink: EventSink, reply_factory: Callable[[], Any]
) -> Any:
    """A streamed Messages answer as a ``Reply`` (text -> output events, tool_use blocks ->
    OpenAI-form tool calls); model faults become :class:`RuntimeFailure`."""
    reply = reply_factory()
    blocks: dict[int, dict[str, Any]] = {}
    stopped = False
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        try:
            event = json.loads(line[5:].strip())
        except ValueError:
            raise RuntimeFailure(
                "the model sent a malformed chunk", "model_protocol_error"
            ) from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "error":
            raise RuntimeFailure("the model reported an error mid-stream", "model_error")
        if kind == "content_block_start":
            blocks[int(event["index"])] = {**event["content_block"], "json": ""}
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            block = blocks.setdefault(int(event["index"]), {"type": "text", "json": ""})
            if delta.get("type") == "text_delta" and delta.get("text"):
                reply.text += delta["text"]
                sink.output(delta["text"])
            elif delta.get("type") == "input_json_delta":
                block["json"] += delta.get("partial_json") or ""
        elif kind == "message_delta":
            reply.finish_reason = (event.get("delta") or {}).get(
                "stop_reason"
            ) or reply.finish_reason
        elif kind == "message_stop":
            stopped = True
            break
    if not stopped:
        raise RuntimeFailure("the model's stream ended early", "model_error")
    reply.tool_calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {
                "name": b["name"],
                "arguments": b["json"] or json.dumps(b.get("input") or {}),
            },
        }
        for _, b in sorted(blocks.items())
        if b.get("type") == "tool_use"
    ]
    return reply

"""The fake model's audit of each request against ``contract/model.yaml`` and ``tools.yaml``.

The model can judge alone what needs no knowledge of the session: the key is carried in the
provider's header and form, the wire format's required headers are there, the model is
named, and every declared tool is a contract tool whose parameters fit the contract. What
needs the session's settings (which key, which temperature, which tools were enabled) the
suites judge from the recorded values (``GET /_fake/requests``), with the same readers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import ProviderRules, tool_contract


@dataclass(frozen=True)
class Audit:
    """What one model request carried, read with the contract's rules, and what is wrong."""

    api: str
    api_key: str | None
    model: str
    temperature: Any
    max_tokens: Any
    stream: bool
    system: str
    prompt: str
    declared_tools: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    traceparent: str | None = None
    """The W3C trace context the request carried (the ``traced`` clauses judge it)."""
    tracestate: str | None = None
    conversation: list[dict[str, Any]] = field(default_factory=list)
    """The request's turns in one form for both wire formats (:func:`conversation_of`)."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _chat_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    if role == "user":
        return [{"role": "user", "text": _text(message.get("content"))}]
    if role == "tool":
        text = _text(message.get("content"))
        return [{"role": "tool", "call_id": message.get("tool_call_id"), "text": text}]
    if role != "assistant":
        return []
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
        except ValueError:
            args = function.get("arguments")
        calls.append({"id": call.get("id"), "name": function.get("name"), "args": args})
    return [{"role": "assistant", "text": _text(message.get("content")), "tool_calls": calls}]


def _messages_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if message.get("role") == "assistant":
        calls = [
            {"id": b.get("id"), "name": b.get("name"), "args": b.get("input")}
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        return [{"role": "assistant", "text": _text(blocks), "tool_calls": calls}]
    items: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            text = _text(block.get("content"))
            items.append({"role": "tool", "call_id": block.get("tool_use_id"), "text": text})
        elif "text" in block:
            items.append({"role": "user", "text": str(block["text"])})
    return items


def conversation_of(api: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's messages, system prompt left out, as items ``{"role": "user", "text"}``,
    ``{"role": "assistant", "text", "tool_calls": [{"id", "name", "args"}]}`` and
    ``{"role": "tool", "call_id", "text"}``, in order, whichever wire format carried them."""
    messages = body.get("messages")
    read = _messages_items if api == "anthropic_messages" else _chat_items
    items: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict):
            items += read(message)
    return items


def audit_request(
    rules: ProviderRules, headers: Mapping[str, str], body: Mapping[str, Any]
) -> Audit:
    """Read ``body`` with ``rules``' wire format and list every contract problem in it."""
    api = rules.api
    key = rules.key_of(headers)
    problems: list[str] = []
    if key is None:
        shown = rules.key_format.replace("{api_key}", "<api_key>")
        problems.append(f"no api key in the {rules.key_header} header (expected {shown!r})")
    for name, value in rules.headers.items():
        if name not in headers:
            problems.append(f"header {name} missing (expected {value!r})")
    model = api.value(body, "model")
    if not isinstance(model, str) or not model:
        problems.append("model missing")
    declared = api.declared_tools(body)
    for name, parameters in (declared or {}).items():
        spec = tool_contract().tools.get(name)
        if spec is None:
            problems.append(f"tools declares {name!r}, which is not a contract tool")
        else:
            problems += spec.incompatibilities(parameters)
    return Audit(
        api=api.name,
        api_key=key,
        model=str(model or ""),
        temperature=api.value(body, "temperature"),
        max_tokens=api.value(body, "max_tokens"),
        stream=api.value(body, "stream") is True,
        system=api.system_text(body),
        prompt=api.prompt_text(body),
        declared_tools=declared,
        problems=problems,
        traceparent=headers.get("traceparent"),
        tracestate=headers.get("tracestate"),
        conversation=conversation_of(api.name, body),
    )

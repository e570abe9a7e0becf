"""A follow-up's earlier turns in each wire format of contract/model.yaml (its
``Follow-ups`` note): what both runtimes put before the follow-up's own prompt.

* ``openai_chat``: per turn a ``user`` message, then per answer of the model an
  ``assistant`` message (text, ``tool_calls``) followed by one ``tool`` message per call;
* ``anthropic_messages``: ``user`` text, ``assistant`` text and ``tool_use`` blocks, then a
  ``user`` message of the ``tool_result`` blocks.
"""

from __future__ import annotations

import json
from typing import Any

from reference_server.runtime import EarlierTurn


def chat_messages(turns: tuple[EarlierTurn, ...]) -> list[dict[str, Any]]:
    """The earlier turns as OpenAI chat messages, in order."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.prompt})
        for step in turn.steps:
            assistant: dict[str, Any] = {"role": "assistant", "content": step.text or None}
            if step.tools:
                assistant["tool_calls"] = [
                    {
                        "id": t.call_id,
                        "type": "function",
                        "function": {"name": t.tool, "arguments": json.dumps(dict(t.args))},
                    }
                    for t in step.tools
                ]
            messages.append(assistant)
            messages += [
                {"role": "tool", "tool_call_id": t.call_id, "content": t.result_text}
                for t in step.tools
            ]
    return messages


def anthropic_messages(turns: tuple[EarlierTurn, ...]) -> list[dict[str, Any]]:
    """The earlier turns as Anthropic Messages, in order."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages.append({"role": "user", "content": [{"type": "text", "text": turn.prompt}]})
        for step in turn.steps:
            blocks: list[dict[str, Any]] = []
            if step.text:
                blocks.append({"type": "text", "text": step.text})
            blocks += [
                {"type": "tool_use", "id": t.call_id, "name": t.tool, "input": dict(t.args)}
                for t in step.tools
            ]
            if blocks:
                messages.append({"role": "assistant", "content": blocks})
            if step.tools:
                results = [
                    {"type": "tool_result", "tool_use_id": t.call_id, "content": t.result_text}
                    for t in step.tools
                ]
                messages.append({"role": "user", "content": results})
    return messages


def with_history(api: str, body: dict[str, Any], turns: tuple[EarlierTurn, ...]) -> dict[str, Any]:
    """``body`` (a request of wire format ``api``) with the earlier turns put before its
    first non-system message: how a relay adds them to a runtime's own requests."""
    if not turns or not isinstance(body.get("messages"), list):
        return body
    messages: list[Any] = body["messages"]
    if api == "anthropic_messages":
        return {**body, "messages": [*anthropic_messages(turns), *messages]}
    head = 0
    while head < len(messages) and isinstance(messages[head], dict):
        if messages[head].get("role") not in ("system", "developer"):
            break
        head += 1
    return {**body, "messages": [*messages[:head], *chat_messages(turns), *messages[head:]]}

"""Scenario files: what the fake model says, turn by turn (YAML, validated at load)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from contract import parse_yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCHEMA_PATH = Path(__file__).resolve().parent / "scenario.schema.json"


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file, the path in it and why."""


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any]


PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
BINDING = re.compile(r"\b(\w+)=(\S+)")


def bindings_of(messages: list[Any]) -> dict[str, str]:
    """``name=value`` words of the conversation's user messages: what ``{{name}}`` in a
    scenario's tool arguments stands for (a test passes a peer's session id or a path that
    only it knows in the prompt, e.g. ``peer=<uuid>``)."""
    found: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else part
            if isinstance(text, str):
                found.update(BINDING.findall(text))
    return found


def _bind(value: Any, bindings: dict[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: bindings.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _bind(v, bindings) for k, v in value.items()}
    if isinstance(value, list):
        return [_bind(v, bindings) for v in value]
    return value


@dataclass(frozen=True)
class Turn:
    chunks: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    delay: float = 0.0
    fault: str | None = None
    """``stall``, ``http_status``, ``malformed_chunk``, ``drop_connection``, ``endless`` or
    ``error_chunk`` (an error object in the middle of the stream)."""
    fault_value: float = 0.0
    """Seconds of a stall, or the HTTP status."""

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def bound(self, bindings: dict[str, str]) -> Turn:
        """This turn with every ``{{name}}`` of its tool arguments replaced."""
        if not self.tool_calls or not bindings:
            return self
        calls = tuple(ToolCall(c.tool, _bind(c.args, bindings)) for c in self.tool_calls)
        return replace(self, tool_calls=calls)


STREAM_ONLY_FAULTS = frozenset({"malformed_chunk", "drop_connection", "endless", "error_chunk"})
"""Faults that happen in the middle of a streamed answer: a non-streaming request cannot
play them."""


def _is_prompt(message: Any) -> bool:
    """A user message with text of its own (not only tool results, as Anthropic's are)."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return False
    content = message.get("content")
    if isinstance(content, list):
        return any(isinstance(p, dict) and p.get("type", "text") == "text" for p in content)
    return True


def _is_answer(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "assistant"


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    turns: tuple[Turn, ...]
    per_prompt: bool = False
    """Count turns from the conversation's last prompt (a follow-up plays the script from
    its start), rather than from the first."""

    def turn_index(self, messages: list[Any]) -> tuple[int, int]:
        """(the script's turn for a request holding ``messages``, the number of assistant
        messages in it: what names the turn's tool call ids, unique in a conversation)."""
        answers = sum(1 for m in messages if _is_answer(m))
        if not self.per_prompt:
            return answers, answers
        last_prompt = max((i for i, m in enumerate(messages) if _is_prompt(m)), default=-1)
        return sum(1 for m in messages[last_prompt + 1 :] if _is_answer(m)), answers

    @property
    def needs_stream(self) -> bool:
        """Its faults happen mid-stream: only a ``stream: true`` request plays it."""
        return any(t.fault in STREAM_ONLY_FAULTS for t in self.turns)

    @property
    def needed_tools(self) -> tuple[str, ...]:
        """The tools its turns call: a request must declare tools for it to behave."""
        return tuple(sorted({c.tool for t in self.turns for c in t.tool_calls}))

    def needs(self) -> str:
        """What a request needs for this scenario to behave, in a few words."""
        wanted = ["stream: true"] if self.needs_stream else []
        if self.needed_tools:
            wanted.append(f"tools [{', '.join(self.needed_tools)}]")
        return ", ".join(wanted) or "-"

    def turn(self, index: int) -> Turn:
        """Turn ``index``; past the script, the last text turn again (a model that is done)."""
        if index < len(self.turns):
            return self.turns[index]
        for turn in reversed(self.turns):
            if turn.chunks and not turn.tool_calls and turn.fault is None:
                return turn
        return Turn(chunks=("Done.",))


def _words(text: str) -> tuple[str, ...]:
    pieces = text.split(" ")
    return (*(p + " " for p in pieces[:-1]), pieces[-1]) if text else ()


def _turn(raw: dict[str, Any]) -> Turn:
    fault = raw.get("fault")
    name, value = None, 0.0
    if isinstance(fault, str):
        name = fault
    elif isinstance(fault, dict):
        name, value = next(iter(fault.items()))
    chunks = tuple(raw["chunks"]) if "chunks" in raw else _words(raw.get("text", ""))
    chunks *= int(raw.get("repeat", 1))
    return Turn(
        chunks=chunks,
        tool_calls=tuple(ToolCall(c["tool"], dict(c["args"])) for c in raw.get("tool_calls", [])),
        delay=float(raw.get("delay", 0.0)),
        fault=name,
        fault_value=float(value),
    )


_VALIDATOR = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def load_scenario(path: Path) -> Scenario:
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from None
    errors = sorted(_VALIDATOR.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise ScenarioError(f"{path}: at {where}: {first.message}")
    if raw["id"] != path.stem:
        raise ScenarioError(f"{path}: at id: {raw['id']!r} must equal the file name {path.stem!r}")
    turns = tuple(_turn(t) for t in raw["turns"])
    return Scenario(raw["id"], raw["description"], turns, bool(raw.get("per_prompt", False)))


def load_scenarios(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """Every ``*.yaml`` scenario in ``directory``, by id."""
    return {s.id: s for s in (load_scenario(p) for p in sorted(directory.glob("*.yaml")))}

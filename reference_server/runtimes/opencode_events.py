"""OpenCode's bus events of one session, translated into the contract's events.

A pure state machine (no I/O): :meth:`SessionTranslator.feed` takes one OpenCode event
(``type`` and ``properties`` from ``GET /global/event``) and calls the :class:`EventSink`;
it returns an :class:`Outcome` when the session has reached an end.

=============================================  ==========================================
OpenCode                                        contract
=============================================  ==========================================
tool part, state ``running`` (first sight)      ``tool_call`` (``call_id`` = ``callID``)
tool part, state ``completed`` / ``error``      ``tool_result`` ``{"output"}`` / ``{"error"}``
text part of an assistant message (deltas)      ``output``
``step-start`` part                             ``status`` progress (10 per step, max 90)
``file.edited``                                 ``complete.files_modified`` (in order)
``session.status`` ``retry``                    the end: the model failed
``session.error``                               the end: fatal ``error``
``session.idle``                                the end: ``complete``
=============================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.runtime import EventSink


@dataclass(frozen=True)
class Outcome:
    """How an OpenCode session ended."""

    kind: str  # idle | retry | error
    message: str = ""
    error_name: str = ""


@dataclass
class SessionTranslator:
    """Turns one OpenCode session's events into sink calls."""

    sink: EventSink
    workspace: Path
    user_messages: set[str] = field(default_factory=set)
    text_parts: dict[str, str] = field(default_factory=dict)
    """part id -> text already emitted (assistant text parts only)."""
    calls_announced: set[str] = field(default_factory=set)
    calls_finished: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    steps: int = 0
    final_text: str = ""

    def feed(self, kind: str, props: dict[str, Any]) -> Outcome | None:
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            return None
        result: Outcome | None = handler(props)
        return result

    # ------------------------------------------------------------ messages and parts
    def _on_message_updated(self, props: dict[str, Any]) -> None:
        info = props.get("info") or {}
        if info.get("role") == "user" and isinstance(info.get("id"), str):
            self.user_messages.add(info["id"])

    def _on_message_part_updated(self, props: dict[str, Any]) -> None:
        part = props.get("part") or {}
        if part.get("messageID") in self.user_messages:
            return
        kind = part.get("type")
        if kind == "text":
            self._text(part)
        elif kind == "tool":
            self._tool(part)
        elif kind == "step-start":
            self.steps += 1
            self.sink.progress(min(90, 10 * self.steps))

    def _on_message_part_delta(self, props: dict[str, Any]) -> None:
        part_id = props.get("partID")
        delta = props.get("delta")
        if props.get("field") != "text" or part_id not in self.text_parts:
            return
        if isinstance(delta, str) and delta:
            self.text_parts[part_id] += delta
            self.sink.output(delta)

    def _text(self, part: dict[str, Any]) -> None:
        part_id, text = part.get("id"), part.get("text")
        if not isinstance(part_id, str) or not isinstance(text, str):
            return
        if part.get("synthetic") or part.get("ignored"):
            return
        emitted = self.text_parts.setdefault(part_id, "")
        if (part.get("time") or {}).get("end") is None:
            return
        if text.startswith(emitted) and len(text) > len(emitted):
            self.sink.output(text[len(emitted) :])
        self.text_parts[part_id] = text
        if text.strip():
            self.final_text = text

    def announce(self, call_id: str, tool: str, args: Mapping[str, Any]) -> None:
        """The ``tool_call`` event of a call, once: from its bus event, or from the tool
        bridge when the call reaches the sidecar first (a permission request follows it)."""
        if call_id not in self.calls_announced:
            self.calls_announced.add(call_id)
            self.sink.tool_call(call_id, tool, args)

    def _tool(self, part: dict[str, Any]) -> None:
        call_id, tool = part.get("callID"), part.get("tool")
        state = part.get("state") or {}
        status = state.get("status")
        if not isinstance(call_id, str) or not isinstance(tool, str) or status == "pending":
            return
        args = state.get("input")
        self.announce(call_id, tool, args if isinstance(args, dict) else {})
        if call_id in self.calls_finished:
            return
        if status == "completed" and (refused := refused_call(tool, state)):
            self.calls_finished.add(call_id)
            self.sink.tool_result(call_id, tool, {"error": refused})
            self.sink.warning(f"{tool} refused: {refused}")
        elif status == "completed" and (timed_out := bash_timeout_note(tool, state)):
            self.calls_finished.add(call_id)
            self.sink.tool_result(call_id, tool, {"error": timed_out})
            self.sink.warning(f"{tool} failed: {timed_out}")
        elif status == "completed":
            self.calls_finished.add(call_id)
            self.sink.tool_result(call_id, tool, {"output": str(state.get("output", ""))})
            self._file_from_tool(tool, state)
        elif status == "error":
            self.calls_finished.add(call_id)
            error = str(state.get("error") or "the tool failed")
            self.sink.tool_result(call_id, tool, {"error": error})
            self.sink.warning(f"{tool} failed: {error}")

    def _file_from_tool(self, tool: str, state: dict[str, Any]) -> None:
        if tool not in ("write", "edit"):
            return
        path = (state.get("metadata") or {}).get("filepath") or (state.get("input") or {}).get(
            "filePath"
        )
        if isinstance(path, str):
            self._file(path)

    def _file(self, path: str) -> None:
        target = Path(path) if Path(path).is_absolute() else self.workspace / path
        try:
            relative = target.resolve().relative_to(self.workspace.resolve()).as_posix()
        except ValueError:
            return
        if relative not in self.files:
            self.files.append(relative)

    # ------------------------------------------------------------ files and session state
    def _on_file_edited(self, props: dict[str, Any]) -> None:
        if isinstance(props.get("file"), str):
            self._file(props["file"])

    def _on_session_status(self, props: dict[str, Any]) -> Outcome | None:
        status = props.get("status") or {}
        if status.get("type") == "retry":
            return Outcome("retry", str(status.get("message") or "the model call failed"))
        return None

    def _on_session_error(self, props: dict[str, Any]) -> Outcome:
        error = props.get("error") or {}
        message = str((error.get("data") or {}).get("message") or error.get("name") or "")
        return Outcome("error", message.splitlines()[0] if message else "", str(error.get("name")))

    def _on_session_idle(self, props: dict[str, Any]) -> Outcome:
        return Outcome("idle")


BASH_TIMEOUT_NOTE = "terminated command after exceeding timeout"
"""What OpenCode appends to a bash output when it killed the command at its timeout."""


def bash_timeout_note(tool: str, state: dict[str, Any]) -> str | None:
    """OpenCode reports a bash command it killed at its timeout as *completed*; the
    contract (tools.yaml bash) makes it a tool error: the error text, or ``None``."""
    output = str(state.get("output", ""))
    if tool != "bash" or BASH_TIMEOUT_NOTE not in output:
        return None
    start = output.rfind("\n", 0, output.find(BASH_TIMEOUT_NOTE)) + 1
    return f"command timed out: {output[start:].strip()[:300]}"


REFUSAL_TOOL = "invalid"
"""OpenCode's stand-in for a call to a tool that is off (not enabled) or does not exist."""


def refused_call(tool: str, state: dict[str, Any]) -> str | None:
    """OpenCode answers a call to a tool that is not enabled through its ``invalid`` tool,
    which *completes*; the contract (tools.yaml) makes it the tool error: its text, or
    ``None`` for any other call."""
    if tool != REFUSAL_TOOL:
        return None
    return str(state.get("output") or (state.get("input") or {}).get("error") or "refused")

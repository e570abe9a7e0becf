"""Follow-ups: a new session that continues a finished session's conversation.

``POST /sessions`` with ``continue_from`` (STREAM_RULES.md#follow-ups) creates a session of
its own (own id, stream, terminal event: the stream rules are unchanged, and a client
that never sends ``continue_from`` sees exactly the old behaviour) whose spec carries the
earlier turns and whose tools work in the earlier session's workspace.

The earlier turns are read from the earlier session's own event log (its prompt, the
``output`` text, each ``tool_call`` and its ``tool_result``), which every runtime already
reports through the sink and the durable store already keeps: the history survives a
restart and does not depend on what a runtime remembers. A chain of follow-ups carries
the whole conversation: each spec's history is the earlier one's plus its own turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reference_server.event_log import Event
from reference_server.runtime import AssistantStep, EarlierTurn, ToolExchange
from reference_server.sessions import Session


class ConversationNotFoundError(Exception):
    """``continue_from`` names no session (never created, or past retention)."""


class ConversationRunningError(Exception):
    """The conversation's current turn still runs (the session, or a follow-up of it)."""


def turn_of(prompt: str, events: Iterable[Event]) -> EarlierTurn:
    """One session's turn as its log tells it: text and tool calls, in order."""
    steps: list[AssistantStep] = []
    text = ""
    calls: list[ToolExchange] = []
    results: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data
        if event.event == "output" and data.get("type", "stdout") == "stdout":
            if calls:  # text after tool calls starts the model's next answer
                steps.append(AssistantStep(text, tuple(calls)))
                text, calls = "", []
            text += str(data.get("text", ""))
        elif event.event == "tool_call":
            args = data.get("args")
            calls.append(
                ToolExchange(
                    str(data.get("call_id")),
                    str(data.get("tool")),
                    dict(args) if isinstance(args, dict) else {},
                )
            )
        elif event.event == "tool_result" and isinstance(data.get("result"), dict):
            results[str(data.get("call_id"))] = dict(data["result"])
    if text or calls:
        steps.append(AssistantStep(text, tuple(calls)))
    with_results = tuple(
        AssistantStep(
            step.text,
            tuple(
                ToolExchange(c.call_id, c.tool, c.args, results.get(c.call_id)) for c in step.tools
            ),
        )
        for step in steps
    )
    return EarlierTurn(prompt, with_results)


class FollowUps:
    """How a follow-up finds its conversation (faulty sidecars swap it)."""

    def earlier(
        self, sessions: Iterable[Session], found: Session | None, wanted: str
    ) -> Session | None:
        """The session ``continue_from`` names, once it may be continued (``None``: start a
        new conversation instead; the reference never does)."""
        if found is None:
            raise ConversationNotFoundError(wanted)
        workspace = found.spec.workspace
        if not found.finished or any(
            s.spec.workspace == workspace for s in sessions if not s.finished
        ):
            raise ConversationRunningError(wanted)
        return found

    def history(self, earlier: Session) -> tuple[EarlierTurn, ...]:
        """The turns a follow-up of ``earlier`` carries: its history, then its own turn."""
        return (*earlier.spec.history, turn_of(earlier.spec.prompt, earlier.log.events()))

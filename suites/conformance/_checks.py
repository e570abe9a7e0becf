"""Checks that apply to both transports (SSE and WebSocket), judged on a
:class:`~suites.clientkit.recording.Recording` of either. A :class:`Transport` names the operation
and the clauses a check reports, so one judgment serves ``SSE-*`` and ``WS-*`` tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from contract import status_for, stream_rules, validate_event
from suites.checks.verdict import check, precondition_failed
from suites.clientkit.recording import Recording, data_of


@dataclass(frozen=True)
class Transport:
    name: str
    operation_id: str
    ok_outcome: str
    ok_clause: str
    """The clause a read that did not get the stream (or the upgrade) violates."""
    ids_clause: str
    """The clause an event without a (well-formed) id violates."""
    increase_clause: str
    terminal_clause: str
    replay_clause: str

    def need_stream(self, rec: Recording) -> None:
        """Precondition: the read got the stream."""
        if rec.status_code != status_for(self.operation_id, self.ok_outcome):
            precondition_failed(self.ok_clause, f"the {self.name} answered HTTP {rec.status_code}")

    def ids(self, rec: Recording) -> list[int]:
        """The history's ids, when each is a decimal integer and they increase (else a
        precondition)."""
        ids = []
        for event in rec.numbered():
            if event.id is None or not stream_rules().id_pattern.match(event.id):
                precondition_failed(self.ids_clause, f"event {event.event} has id {event.id!r}")
            ids.append(int(event.id))
        if any(a >= b for a, b in itertools.pairwise(ids)):
            precondition_failed(self.increase_clause, f"ids do not increase: {ids[:20]}")
        return ids

    def finished(self, rec: Recording) -> None:
        if rec.terminal_index() is None:
            precondition_failed(self.terminal_clause, f"the {self.name} has no terminal event")


SSE = Transport(
    name="stream",
    operation_id="streamSession",
    ok_outcome="stream",
    ok_clause="SSE-CONTENT-TYPE",
    ids_clause="SSE-IDS-PRESENT",
    increase_clause="SSE-IDS-INCREASE",
    terminal_clause="SSE-ONE-TERMINAL",
    replay_clause="SSE-REPLAY",
)
WEBSOCKET = Transport(
    name="WebSocket",
    operation_id="websocketSession",
    ok_outcome="upgraded",
    ok_clause="WS-UPGRADE",
    ids_clause="WS-FRAME-SCHEMA",
    increase_clause="WS-IDS-INCREASE",
    terminal_clause="WS-ONE-TERMINAL",
    replay_clause="WS-REPLAY",
)

Reader = Callable[..., Recording]
"""``read(session_id, resume_after=None, stop_after_events=None) -> Recording``."""


def ids_increase(t: Transport, rec: Recording) -> None:
    t.need_stream(rec)
    if any(e.id is None for e in rec.numbered()):
        precondition_failed(t.ids_clause, "events without ids")
    raw = [e.id for e in rec.numbered()]
    bad = [i for i in raw if not stream_rules().id_pattern.match(str(i))]
    check(not bad, "ids must be decimal positive integers", "1, 2, 3...", bad, rec.response)
    ids = [int(i) for i in raw if i is not None]
    check(
        all(a < b for a, b in itertools.pairwise(ids)),
        "ids must strictly increase",
        "strictly increasing ids",
        ids,
        rec.response,
    )


def event_types(t: Transport, rec: Recording) -> None:
    t.need_stream(rec)
    known = stream_rules().event_types
    unknown = sorted({e.event for e in rec.events} - known)
    check(
        not unknown,
        "every event type must be one of the contract's",
        sorted(known),
        unknown,
        rec.response,
    )


def event_data(t: Transport, rec: Recording) -> None:
    t.need_stream(rec)
    known = stream_rules().event_types
    for event in rec.events:
        if event.event not in known:
            continue  # the event-types clause reports it
        problems = validate_event(event.event, event.data)
        check(
            not problems,
            f"{event.event} data must fit events/{event.event}.json",
            "valid data",
            f"{event.data[:200]} -> {'; '.join(map(str, problems[:3]))}",
            rec.response,
        )


def first_event(t: Transport, rec: Recording) -> None:
    rules = stream_rules()
    t.need_stream(rec)
    history = rec.numbered()
    check(bool(history), "the history must not be empty", "a first event", "none", rec.response)
    first = history[0]
    status = (data_of(first) or {}).get("status") if first.event == rules.first_event else None
    check(
        first.event == rules.first_event and status in rules.first_statuses,
        "the first event must be a status event with pending|running",
        f"{rules.first_event} {sorted(rules.first_statuses)}",
        f"{first.event} {first.data}",
        rec.response,
    )


def one_terminal(t: Transport, rec: Recording) -> None:
    rules = stream_rules()
    t.need_stream(rec)
    history = rec.numbered()
    terminals = [
        i
        for i, e in enumerate(history)
        if isinstance(data_of(e), dict) and rules.is_terminal(e.event, data_of(e))
    ]
    check(
        len(terminals) == 1,
        "a finished session must have exactly one terminal event",
        "1 terminal event",
        f"{len(terminals)}: {[history[i].event for i in terminals]}",
        rec.response,
    )
    check(
        terminals[0] == len(history) - 1,
        "the terminal event must be the last event",
        "terminal last",
        [e.event for e in history[terminals[0] :]],
        rec.response,
    )


def closes_after_terminal(t: Transport, rec: Recording) -> None:
    t.need_stream(rec)
    t.finished(rec)
    extra = [e.event for e in rec.after_terminal]
    check(not extra, "nothing may follow the terminal event", "no events", extra, rec.response)
    bound = stream_rules().close_after_terminal_seconds
    assert rec.terminal_at is not None
    waited = (rec.ended_at or time.monotonic()) - rec.terminal_at
    check(
        rec.ended and waited <= bound,
        f"the server must close the {t.name} after the terminal",
        f"closed within {bound:g} s",
        "still open" if not rec.ended else f"{waited:.1f} s",
        rec.response,
    )


def replay(t: Transport, live: Recording, late: Recording) -> None:
    t.need_stream(late)
    check(
        live.history() == late.history(),
        "a late subscriber must receive the whole history, identical",
        live.history(),
        late.history(),
        late.response,
    )


def resume(t: Transport, read: Reader, session_id: str) -> list[int]:
    """Read a few events, resume after the last one, and after ids in the middle: the
    pieces must be the full history with no gap and no duplicate. Returns the ids."""
    first = read(session_id, stop_after_events=4)
    t.need_stream(first)
    ids = t.ids(first)
    if not ids:
        precondition_failed(t.ids_clause, "no event before the disconnect")
    resumed = read(session_id, ids[-1])
    full = read(session_id)
    if full.history()[: len(first.history())] != first.history():
        precondition_failed(t.replay_clause, "a full read does not start with what was read live")
    t.need_stream(resumed)
    combined = first.history() + resumed.history()
    check(
        combined == full.history(),
        f"resuming the {t.name} must continue with no gap and no duplicate",
        [e[0] for e in full.history()],
        [e[0] for e in combined],
        resumed.response,
    )
    for middle in (ids[0], ids[len(ids) // 2]):
        again = read(session_id, middle)
        expected = [e for e in full.history() if e[0] is not None and int(e[0]) > middle]
        check(
            again.history() == expected,
            f"resuming after {middle} must resume strictly after it",
            [e[0] for e in expected],
            [e[0] for e in again.history()],
            again.response,
        )
    return t.ids(full)


def heartbeats(t: Transport, rec: Recording, max_silence: float) -> None:
    t.need_stream(rec)
    arrivals = sorted([e.received_at for e in rec.events] + [c.received_at for c in rec.comments])
    marks = [rec.started_at, *arrivals, rec.stopped_at]
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    worst = max(gaps) if gaps else 0.0
    check(
        worst <= max_silence,
        f"a silent {t.name} must get a heartbeat within the interval",
        f"silence <= {max_silence:.1f} s",
        f"{worst:.1f} s of silence",
        rec.response,
    )


def tool_pairing(t: Transport, rec: Recording, completed: bool) -> None:
    t.need_stream(rec)
    calls: dict[str, str] = {}
    results: set[str] = set()
    for event in rec.numbered():
        data = data_of(event)
        if not isinstance(data, dict):
            continue
        if event.event == "tool_call":
            call_id = str(data.get("call_id"))
            check(
                call_id not in calls,
                "a call_id must be used by one tool_call",
                "unique",
                call_id,
                rec.response,
            )
            calls[call_id] = str(data.get("tool"))
        elif event.event == "tool_result":
            call_id = str(data.get("call_id"))
            check(
                call_id in calls and call_id not in results,
                "a tool_result must follow its tool_call, once",
                "a matching earlier tool_call",
                call_id,
                rec.response,
            )
            check(
                calls[call_id] == data.get("tool"),
                "a tool_result must name its call's tool",
                calls[call_id],
                data.get("tool"),
                rec.response,
            )
            results.add(call_id)
    check(bool(calls), "hello_write must produce a tool_call", ">= 1 tool_call", 0, rec.response)
    if completed:
        check(
            set(calls) == results,
            "every tool_call of a completed session needs its result",
            sorted(calls),
            sorted(results),
            rec.response,
        )


def progress_monotonic(t: Transport, rec: Recording) -> None:
    t.need_stream(rec)
    values = [
        d.get("progress")
        for e in rec.numbered()
        if e.event == "status" and isinstance(d := data_of(e), dict)
    ]
    numbers = [v for v in values if isinstance(v, int)]
    check(
        all(a <= b for a, b in itertools.pairwise(numbers)),
        "progress must never decrease",
        "non-decreasing",
        numbers,
        rec.response,
    )

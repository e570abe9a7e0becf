"""Recording a stream with timings, so that many clauses can be judged from one read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract import status_for, stream_rules
from suites.clientkit.client import SidecarClient
from suites.clientkit.sse import SSEComment, SSEEvent, SSEParser, SSEViolation

HEAD_BYTES = 4096


@dataclass
class Recording:
    """Everything observed on one stream request."""

    session_id: str
    status_code: int
    headers: httpx.Headers
    request: httpx.Request
    response: httpx.Response
    body: bytes = b""
    """The body of a non-200 answer."""
    head: bytes = b""
    """The first bytes of a 200 stream."""
    events: list[SSEEvent] = field(default_factory=list)
    comments: list[SSEComment] = field(default_factory=list)
    violations: list[SSEViolation] = field(default_factory=list)
    retry: int | None = None
    started_at: float = 0.0
    terminal_at: float | None = None
    ended_at: float | None = None
    """When the server closed the stream (``None``: it did not, within the read timeout)."""
    after_terminal: list[SSEEvent] = field(default_factory=list)
    gave_up_at: float = 0.0
    frames: list[Any] = field(default_factory=list)
    """WebSocket only: every message as parsed JSON (its raw text or bytes when not JSON)."""
    close_code: int | None = None
    """WebSocket only: the server's close code (``None``: no close frame)."""

    @property
    def stopped_at(self) -> float:
        """When reading stopped (closed by the server, or given up)."""
        return self.ended_at if self.ended_at is not None else self.gave_up_at

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def numbered(self) -> list[SSEEvent]:
        """Events that are part of the history (not heartbeats)."""
        unnumbered = stream_rules().unnumbered_events
        return [e for e in self.events if e.event not in unnumbered]

    def history(self) -> list[tuple[str | None, str, Any]]:
        """(id, type, parsed data) of the history, for comparing two reads."""
        return [(e.id, e.event, _json_or_text(e.data)) for e in self.numbered()]

    def terminal_index(self) -> int | None:
        rules = stream_rules()
        for index, event in enumerate(self.events):
            data = _json_or_text(event.data)
            if isinstance(data, dict) and rules.is_terminal(event.event, data):
                return index
        return None


def data_of(event: SSEEvent) -> Any:
    """The event's data parsed as JSON, or ``None`` when it is not JSON."""
    try:
        return json.loads(event.data)
    except ValueError:
        return None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def record(
    client: SidecarClient,
    session_id: str,
    last_event_id: str | int | None = None,
    *,
    max_silence: float,
    stop_after_events: int | None = None,
    linger: float | None = None,
    window: float | None = None,
) -> Recording:
    """Read a stream until the server closes it, ``max_silence`` passes with no byte,
    ``stop_after_events`` history events arrived, ``window`` s passed, or ``linger`` s passed
    after the terminal event (default: the contract's close bound + 1 s)."""
    rules = stream_rules()
    linger = rules.close_after_terminal_seconds + 1.0 if linger is None else linger
    with client.open_stream(session_id, last_event_id, read_timeout=max_silence) as stream:
        response = stream.response
        rec = Recording(
            session_id=session_id,
            status_code=response.status_code,
            headers=response.headers,
            request=response.request,
            response=response,
            started_at=time.monotonic(),
        )
        if response.status_code != status_for("streamSession", "stream"):
            rec.body = response.read()
            rec.ended_at = time.monotonic()
            return rec
        parser: SSEParser = stream.parser
        try:
            for chunk in response.iter_raw():
                if len(rec.head) < HEAD_BYTES:
                    rec.head += chunk[: HEAD_BYTES - len(rec.head)]
                for event in parser.feed(chunk):
                    _add(rec, event)
                if stop_after_events is not None and len(rec.numbered()) >= stop_after_events:
                    break
                if rec.terminal_at is not None and time.monotonic() - rec.terminal_at > linger:
                    break
                if window is not None and time.monotonic() - rec.started_at > window:
                    break
            else:
                for event in parser.close():
                    _add(rec, event)
                rec.ended_at = time.monotonic()
        except httpx.ReadTimeout:
            pass
        except httpx.RemoteProtocolError:
            rec.ended_at = time.monotonic()
        rec.gave_up_at = time.monotonic()
        rec.comments = list(parser.comments)
        rec.violations = list(parser.violations)
        rec.retry = parser.retry
        return rec


def add_event(rec: Recording, event: SSEEvent) -> None:
    """Append an event, noting when the terminal one arrived and what followed it."""
    _add(rec, event)


def _add(rec: Recording, event: SSEEvent) -> None:
    if rec.terminal_at is not None:
        rec.after_terminal.append(event)
    rec.events.append(event)
    if rec.terminal_at is None:
        data = _json_or_text(event.data)
        if isinstance(data, dict) and stream_rules().is_terminal(event.event, data):
            rec.terminal_at = time.monotonic()

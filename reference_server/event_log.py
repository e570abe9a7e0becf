"""Per-session event log: ids, history, terminal event, and live following.

The log is the source of truth for every subscriber, over either transport. Each event
is encoded once, to its SSE frame and to its WebSocket message, and shared; a subscriber
is just an index into the list, so a slow reader costs no memory: it reads the log at
its own pace (or is disconnected by its writer and resumes with ``Last-Event-ID`` or
``resume_after``).

With a :class:`Committer` (the SQLite store, :mod:`reference_server.storage`) an appended
event is *staged*: it has its id, but subscribers see it only once the committer reports
it committed. Without one, an event is visible at once (the in-memory sidecar).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from contract import stream_rules


def utc_now() -> str:
    """RFC 3339 UTC timestamp with milliseconds, e.g. ``2026-01-19T21:30:00.120Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_payload(data: Mapping[str, Any]) -> str:
    """An event's data as compact JSON (what its ``data:`` line and the store hold)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode_frame(
    event: str, data: Mapping[str, Any], event_id: int | None, payload: str | None = None
) -> bytes:
    """One SSE frame. JSON never contains a raw newline, so one ``data:`` line suffices."""
    if payload is None:
        payload = encode_payload(data)
    head = f"event: {event}\n" if event_id is None else f"event: {event}\nid: {event_id}\n"
    return f"{head}data: {payload}\n\n".encode()


def encode_message(event: str, data: Mapping[str, Any], event_id: int | None) -> str:
    """One WebSocket text frame (``stream.yaml``'s ``websocket.frame_fields``)."""
    frame = stream_rules().websocket.frame(event, data, event_id)
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a session's history."""

    id: int
    event: str
    data: Mapping[str, Any]
    frame: bytes
    """The SSE frame."""
    message: str
    """The WebSocket text frame."""
    payload: str = ""
    """``data`` as compact JSON."""

    @classmethod
    def build(cls, event_id: int, event: str, data: Mapping[str, Any]) -> Event:
        payload = encode_payload(data)
        return cls(
            event_id,
            event,
            data,
            encode_frame(event, data, event_id, payload),
            encode_message(event, data, event_id),
            payload,
        )


Publish = Callable[[Sequence[Event]], None]


class Committer(Protocol):
    """Makes an event durable, then calls ``publish(events)`` on the event loop, in order
    (one call may publish several committed events of the log)."""

    def commit(self, event: Event, publish: Publish) -> None: ...


class LogClosedError(RuntimeError):
    """An event was appended after the terminal event."""


class EventLog:
    """Append-only, id-numbered history of one session, with async followers."""

    def __init__(
        self,
        on_append: Callable[[Event], None] | None = None,
        committer: Committer | None = None,
        history: Sequence[Event] = (),
    ) -> None:
        self._events: list[Event] = list(history)
        """Committed events: what subscribers see."""
        self._changed = asyncio.Event()
        self._terminal: Event | None = None
        self._on_append = on_append
        self._committer = committer
        self._staged = len(self._events)
        self._ended = False
        for record in self._events:
            if stream_rules().is_terminal(record.event, record.data):
                self._terminal = record
                self._ended = True

    @property
    def last_id(self) -> int:
        """The newest committed id."""
        return len(self._events)

    @property
    def terminal(self) -> Event | None:
        """The terminal event, once committed."""
        return self._terminal

    @property
    def closed(self) -> bool:
        """The terminal event is committed (subscribers can see the end)."""
        return self._terminal is not None

    @property
    def ended(self) -> bool:
        """The terminal event was appended (it may not be committed yet)."""
        return self._ended

    def __len__(self) -> int:
        return len(self._events)

    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def append(self, event: str, data: Mapping[str, Any]) -> Event:
        """Number, encode and stage one event; it is published once committed. Raises
        after the terminal event."""
        if self._ended:
            raise LogClosedError(f"event {event!r} after the terminal event")
        self._staged += 1
        record = Event.build(self._staged, event, data)
        if stream_rules().is_terminal(event, data):
            self._ended = True
        if self._committer is None:
            self._publish((record,))
        else:
            self._committer.commit(record, self._publish)
        return record

    def _publish(self, records: Sequence[Event]) -> None:
        """Make committed events visible; followers wake once per call."""
        self._events.extend(records)
        rules = stream_rules()
        for record in records:
            if rules.is_terminal(record.event, record.data):
                self._terminal = record
            if self._on_append is not None:
                self._on_append(record)
        self._changed.set()
        self._changed = asyncio.Event()

    async def flushed(self) -> None:
        """Wait until every event appended so far is committed."""
        target = self._staged
        while len(self._events) < target:
            await self._changed.wait()

    async def follow(self, after: int, idle: float) -> AsyncIterator[tuple[Event, ...]]:
        """Yield batches of events with id > ``after`` as they come, ``()`` after ``idle`` s
        of silence; ends after the batch holding the terminal event."""
        position = after
        while True:
            if position < len(self._events):
                batch = tuple(self._events[position:])
                position += len(batch)
                yield batch
                continue
            if self._terminal is not None:
                return
            changed = self._changed
            try:
                async with asyncio.timeout(idle):
                    await changed.wait()
            except TimeoutError:
                yield ()

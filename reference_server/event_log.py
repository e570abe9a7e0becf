"""Per-session event log: ids, history, terminal event, and live following.

The log is the source of truth for every subscriber, over either transport. Each event
is encoded once, to its SSE frame and to its WebSocket message, and shared; a subscriber
is just an index into the list, so a slow reader costs no memory: it reads the log at
its own pace (or is disconnected by its writer and resumes with ``Last-Event-ID`` or
``resume_after``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contract import stream_rules


def utc_now() -> str:
    """RFC 3339 UTC timestamp with milliseconds, e.g. ``2026-01-19T21:30:00.120Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_frame(event: str, data: Mapping[str, Any], event_id: int | None) -> bytes:
    """One SSE frame. JSON never contains a raw newline, so one ``data:`` line suffices."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
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


class LogClosedError(RuntimeError):
    """An event was appended after the terminal event."""


class EventLog:
    """Append-only, id-numbered history of one session, with async followers."""

    def __init__(self, on_append: Callable[[Event], None] | None = None) -> None:
        self._events: list[Event] = []
        self._changed = asyncio.Event()
        self._terminal: Event | None = None
        self._on_append = on_append

    @property
    def last_id(self) -> int:
        return len(self._events)

    @property
    def terminal(self) -> Event | None:
        """The terminal event, once appended."""
        return self._terminal

    @property
    def closed(self) -> bool:
        return self._terminal is not None

    def __len__(self) -> int:
        return len(self._events)

    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def append(self, event: str, data: Mapping[str, Any]) -> Event:
        """Number, encode and publish one event; raises after the terminal event."""
        if self._terminal is not None:
            raise LogClosedError(f"event {event!r} after the terminal event")
        event_id = len(self._events) + 1
        record = Event(
            event_id,
            event,
            data,
            encode_frame(event, data, event_id),
            encode_message(event, data, event_id),
        )
        self._events.append(record)
        if stream_rules().is_terminal(event, data):
            self._terminal = record
        self._changed.set()
        self._changed = asyncio.Event()
        if self._on_append is not None:
            self._on_append(record)
        return record

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

"""Following a session's log, for every transport; and ``GET /sessions/{id}/stream`` (SSE).

:func:`follow_log` is the one reader loop: it reads the :class:`EventLog` from an id
onwards, hands each batch (or a heartbeat, after ``HEARTBEAT_INTERVAL`` of silence) to a
:class:`Writer`, and disconnects a reader that accepts nothing for
``stream_write_timeout``. The SSE handler below and the WebSocket handler
(:mod:`reference_server.websocket`) only differ in their writer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from contract import status_for, stream_rules
from reference_server.errors import ApiError
from reference_server.event_log import Event
from reference_server.hooks import StreamFilter
from reference_server.keys import config_key, hooks_key, lifecycle_key, streams_key, telemetry_key
from reference_server.lookup import session_or_error
from reference_server.sessions import Session

log = logging.getLogger("reference_server.stream")

OPERATION = "streamSession"
MAX_ID_DIGITS = 18
WRITE_CHUNK_BYTES = 64 * 1024
"""A batch is written in pieces of about this size, each awaited (the transport drains
above its high-water mark): a reader that stops reading holds at most about one piece,
never a whole replayed log."""


class ResumeError(ValueError):
    """A resume point that is malformed or ahead of the log."""

    def __init__(self, message: str, details: dict[str, object]) -> None:
        super().__init__(message)
        self.details = details


def check_resume_point(after: int, session: Session, field: str) -> int:
    """``after`` if the log can resume after it (``ResumeError`` when it is ahead)."""
    if after > session.log.last_id:
        raise ResumeError(
            f"{field} is ahead of the session's log",
            {"field": field, "last_event_id": session.log.last_id},
        )
    return after


class Writer(Protocol):
    """One reader's connection, as :func:`follow_log` drives it."""

    async def send_events(self, batch: tuple[Event, ...]) -> None: ...

    async def send_heartbeat(self) -> bool:
        """Send a heartbeat; False when none was sent."""
        ...

    async def finish(self) -> None:
        """The terminal event was sent: end the connection as the transport does."""
        ...

    def abort(self) -> None:
        """Drop the connection (a reader too slow to accept anything)."""
        ...


async def follow_log(
    request: web.Request, session: Session, after: int | None, writer: Writer
) -> None:
    """Send the log after ``after`` through ``writer`` until the terminal event, then
    ``finish``; a reader that leaves or stalls ends it early."""
    config = request.app[config_key]
    telemetry = request.app[telemetry_key]
    timeout = config.stream_write_timeout
    telemetry.streams_active.inc()
    try:
        async for batch in session.log.follow(after or 0, config.heartbeat_interval):
            async with asyncio.timeout(timeout):
                if batch:
                    await writer.send_events(batch)
                elif await writer.send_heartbeat():
                    telemetry.heartbeats_sent.inc()
        await writer.finish()
    except ConnectionError:
        log.debug("reader disconnected", extra={"session_id": session.session_id})
    except TimeoutError:
        log.info("slow reader disconnected", extra={"session_id": session.session_id})
        writer.abort()
    finally:
        telemetry.streams_active.dec()


# ---------------------------------------------------------------------- SSE
def _resume_after(request: web.Request, session: Session) -> int | None:
    header = stream_rules().resume_header
    raw = request.headers.get(header)
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise ApiError(
            OPERATION,
            "invalid",
            f"malformed {header}",
            {"field": header, "reason": "must be a decimal non-negative integer"},
        )
    try:
        return check_resume_point(int(raw), session, header)
    except ResumeError as exc:
        raise ApiError(OPERATION, "invalid", str(exc), exc.details) from None


class SseWriter:
    """Writes SSE frames through the connection's :class:`StreamFilter`."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, stream: StreamFilter
    ) -> None:
        self.request = request
        self.response = response
        self.stream = stream

    async def write(self, data: bytes) -> None:
        for piece in self.stream.pieces(data):
            await self.response.write(piece)

    async def send_events(self, batch: tuple[Event, ...]) -> None:
        pending: list[bytes] = []
        size = 0
        for event in batch:
            for frame in self.stream.frames(event):
                pending.append(frame)
                size += len(frame)
                if size >= WRITE_CHUNK_BYTES:
                    await self.write(b"".join(pending))
                    pending, size = [], 0
        if pending:
            await self.write(b"".join(pending))

    async def send_heartbeat(self) -> bool:
        heartbeat = self.stream.heartbeat()
        if heartbeat is None:
            return False
        await self.write(heartbeat)
        return True

    async def finish(self) -> None:
        trailer = b"".join(self.stream.after_terminal())
        if trailer:
            await self.write(trailer)
        if not self.stream.close_after_terminal():
            await _hold_open(self.request, self.request.app[config_key].heartbeat_interval)
        await self.response.write_eof()

    def abort(self) -> None:
        if self.request.transport is not None:
            self.request.transport.close()


async def stream_session(request: web.Request) -> web.StreamResponse:
    session = session_or_error(request, OPERATION)
    hooks = request.app[hooks_key]
    requested = _resume_after(request, session)
    stream = hooks.open(session, requested)
    after = stream.resume_after()
    terminal = session.log.terminal
    if terminal is not None and after == terminal.id and hooks.answer_nothing_after():
        return web.Response(status=status_for(OPERATION, "nothing_after"))

    response = web.StreamResponse(
        status=status_for(OPERATION, "stream"), headers=hooks.response_headers()
    )
    await response.prepare(request)
    streams = request.app[streams_key]
    streams.add(response)
    writer = SseWriter(request, response, stream)
    try:
        async with asyncio.timeout(request.app[config_key].stream_write_timeout):
            await writer.write(stream.preamble())
        await follow_log(request, session, after, writer)
    except ConnectionError:
        log.debug("reader disconnected", extra={"session_id": session.session_id})
    except TimeoutError:
        writer.abort()
    finally:
        stream.closed()
        streams.discard(response)
    return response


async def _hold_open(request: web.Request, interval: float) -> None:
    """Keep a stream open after its terminal event (only a faulty sidecar does this)."""
    lifecycle = request.app[lifecycle_key]
    while not lifecycle.draining:
        await asyncio.sleep(min(interval, 0.5))

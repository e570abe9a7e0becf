"""``GET /sessions/{session_id}/stream``: the session's log as Server-Sent Events."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from contract import status_for, stream_rules
from reference_server.errors import ApiError
from reference_server.hooks import StreamFilter
from reference_server.keys import config_key, hooks_key, lifecycle_key, streams_key, telemetry_key
from reference_server.lookup import session_or_error
from reference_server.sessions import Session

log = logging.getLogger("reference_server.stream")

OPERATION = "streamSession"
MAX_ID_DIGITS = 18


def _resume_after(request: web.Request, session: Session) -> int | None:
    raw = request.headers.get(stream_rules().resume_header)
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise ApiError(
            OPERATION,
            "invalid",
            "malformed Last-Event-ID",
            {"field": "Last-Event-ID", "reason": "must be a decimal non-negative integer"},
        )
    after = int(raw)
    if after > session.log.last_id:
        raise ApiError(
            OPERATION,
            "invalid",
            "Last-Event-ID is ahead of the session's log",
            {"field": "Last-Event-ID", "last_event_id": session.log.last_id},
        )
    return after


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
    config = request.app[config_key]
    telemetry = request.app[telemetry_key]
    timeout = config.stream_write_timeout
    request.app[streams_key].add(response)
    telemetry.streams_active.inc()
    try:
        await _write(response, stream.preamble(), timeout, stream)
        async for batch in session.log.follow(after or 0, config.heartbeat_interval):
            if not batch:
                heartbeat = stream.heartbeat()
                if heartbeat is not None:
                    await _write(response, heartbeat, timeout, stream)
                    telemetry.heartbeats_sent.inc()
                continue
            await _write(
                response, b"".join(f for e in batch for f in stream.frames(e)), timeout, stream
            )
        trailer = b"".join(stream.after_terminal())
        if trailer:
            await _write(response, trailer, timeout, stream)
        if not stream.close_after_terminal():
            await _hold_open(request, config.heartbeat_interval)
        await response.write_eof()
    except ConnectionError:
        log.debug("reader disconnected", extra={"session_id": session.session_id})
    except TimeoutError:
        log.info("slow reader disconnected", extra={"session_id": session.session_id})
        if request.transport is not None:
            request.transport.close()
    finally:
        stream.closed()
        telemetry.streams_active.dec()
    return response


async def _write(
    response: web.StreamResponse, data: bytes, timeout: float, stream: StreamFilter
) -> None:
    """Write, disconnecting a reader that accepts nothing for ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        for piece in stream.pieces(data):
            await response.write(piece)


async def _hold_open(request: web.Request, interval: float) -> None:
    """Keep a stream open after its terminal event (only a faulty sidecar does this)."""
    lifecycle = request.app[lifecycle_key]
    while not lifecycle.draining:
        await asyncio.sleep(min(interval, 0.5))

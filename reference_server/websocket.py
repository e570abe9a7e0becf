"""``GET /sessions/{session_id}/ws``: the session's log over a WebSocket.

The session is looked up before the upgrade (400/404 as JSON, like every route); after it,
the client's optional first message ``{"resume_after": N}`` picks the resume point, and
:func:`reference_server.streaming.follow_log` (the same reader loop as SSE) sends one
JSON text frame per event, then closes with the contract's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from contract import stream_rules
from reference_server.errors import ApiError
from reference_server.event_log import Event
from reference_server.hooks import WebSocketFilter
from reference_server.keys import hooks_key, streams_key
from reference_server.lookup import session_or_error
from reference_server.permission_routes import REPLY_FIELD, ws_reply
from reference_server.sessions import Session
from reference_server.streaming import ResumeError, check_resume_point, follow_log

log = logging.getLogger("reference_server.websocket")

OPERATION = "websocketSession"
CLOSE_REASON_BYTES = 120  # a close frame's reason must fit in 123 bytes


class WebSocketWriter:
    """Sends text frames through the connection's :class:`WebSocketFilter`."""

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, stream: WebSocketFilter
    ) -> None:
        self.request = request
        self.ws = ws
        self.stream = stream

    async def send_events(self, batch: tuple[Event, ...]) -> None:
        for event in batch:
            for message in self.stream.messages(event):
                await self.ws.send_str(message)

    async def send_heartbeat(self) -> bool:
        heartbeat = self.stream.heartbeat()
        if heartbeat is None:
            return False
        await self.ws.send_str(heartbeat)
        return True

    async def finish(self) -> None:
        code = self.stream.close_code()
        if code is None:
            self.abort()
        else:
            await self.ws.close(code=code)

    def abort(self) -> None:
        if self.request.transport is not None:
            self.request.transport.close()


def _parsed(message: Any) -> Any:
    try:
        return json.loads(message)
    except (TypeError, ValueError):
        return None


def _resume_point(body: Any, session: Session) -> int | None:
    """The id a first message resumes after (``ResumeError`` when it is not a valid one)."""
    field = stream_rules().websocket.resume_field
    after = body.get(field) if isinstance(body, dict) else None
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise ResumeError(
            f"malformed {field}",
            {"field": field, "reason": "must be a non-negative integer"},
        )
    return check_resume_point(after, session, field)


async def _first_message(ws: web.WebSocketResponse, session: Session) -> int | None:
    """Wait ``resume_wait_seconds`` for the client's resume message (a permission reply
    instead is answered, and resumes nothing)."""
    try:
        message = await ws.receive(timeout=stream_rules().websocket.resume_wait_seconds)
    except TimeoutError:
        return None
    if message.type == WSMsgType.TEXT:
        body = _parsed(message.data)
        if isinstance(body, dict) and REPLY_FIELD in body:
            await _answer(ws, session, body)
            return None
        return _resume_point(body, session)
    if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        raise ConnectionResetError("the client closed before the first frame")
    raise ResumeError("the first message must be a JSON text frame", {})


async def _answer(ws: web.WebSocketResponse, session: Session, body: Any) -> None:
    refused = ws_reply(session, body)
    if refused is not None:
        await ws.send_str(json.dumps(refused))


async def _read_incoming(ws: web.WebSocketResponse, session: Session) -> None:
    """Read later client messages: permission replies are answered, the rest ignored (so
    pings and the close handshake work)."""
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await _answer(ws, session, _parsed(message.data))


async def websocket_session(request: web.Request) -> web.StreamResponse:
    session = session_or_error(request, OPERATION)
    ws = web.WebSocketResponse()
    if not ws.can_prepare(request).ok:
        raise ApiError(
            OPERATION,
            "upgrade_required",
            "websocket upgrade required",
            {"expected": "Upgrade: websocket"},
        )
    await ws.prepare(request)
    streams = request.app[streams_key]
    streams.add(ws)
    try:
        return await _follow(request, session, ws)
    finally:
        streams.discard(ws)


async def _follow(
    request: web.Request, session: Session, ws: web.WebSocketResponse
) -> web.WebSocketResponse:
    try:
        requested = await _first_message(ws, session)
    except ResumeError as exc:
        reason = str(exc).encode()[:CLOSE_REASON_BYTES]
        await ws.close(code=stream_rules().websocket.close_bad_resume, message=reason)
        return ws
    except ConnectionResetError:
        return ws
    stream = request.app[hooks_key].open_ws(session, requested)
    sender = asyncio.create_task(
        follow_log(request, session, stream.resume_after(), WebSocketWriter(request, ws, stream))
    )
    receiver = asyncio.create_task(_read_incoming(ws, session))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stream.closed()
        for task in (sender, receiver):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ws

"""Reading a session over its WebSocket (``websocket-client``, synchronous like the suite).

:func:`record_ws` fills the same :class:`~suites.clientkit.recording.Recording` as an SSE read: each
JSON frame becomes an event (``id`` as text, ``data`` as JSON text), so the checks that
apply to both transports judge both; ``frames`` and ``close_code`` keep what only a
WebSocket has. The handshake is kept as an ``httpx`` request/response pair, so a failure
shows the ``curl`` line of the handshake.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import time
from typing import Any

import httpx
import websocket

from contract import operation, stream_rules
from suites.clientkit.client import REDACT_EXTENSION, SidecarClient
from suites.clientkit.recording import Recording, add_event
from suites.clientkit.sse import SSEEvent

OPERATION = "websocketSession"


def ws_url(client: SidecarClient, session_id: str) -> str:
    """``ws://`` (or ``wss://``) URL of a session's WebSocket."""
    path = operation(OPERATION).url_path(session_id=session_id)
    return "ws" + client.base_url.removeprefix("http") + path


def handshake_headers(client: SidecarClient) -> dict[str, str]:
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    if client.secret:
        headers["Authorization"] = f"Bearer {client.secret}"
    return headers


def _as_event(frame: Any, received_at: float, raw: bytes) -> SSEEvent | None:
    ws = stream_rules().websocket
    if not isinstance(frame, dict) or not isinstance(frame.get(ws.event_field), str):
        return None
    event_id = frame.get(ws.id_field)
    return SSEEvent(
        event=frame[ws.event_field],
        data=json.dumps(frame.get(ws.data_field), separators=(",", ":")),
        id=None if event_id is None else str(event_id),
        last_event_id="",
        received_at=received_at,
        raw=raw,
    )


def _parsed(payload: bytes | str) -> Any:
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def first_message(value: Any) -> str:
    """The text of a first client message: an ``int`` is a resume point, a ``str`` is sent
    as it is, anything else as JSON."""
    if isinstance(value, int) and not isinstance(value, bool):
        return json.dumps(stream_rules().websocket.resume_message(value))
    return value if isinstance(value, str) else json.dumps(value)


def record_ws(
    client: SidecarClient,
    session_id: str,
    first: Any = None,
    *,
    max_silence: float,
    stop_after_events: int | None = None,
    linger: float | None = None,
    window: float | None = None,
) -> Recording:
    """Read a session's WebSocket like :func:`suites.clientkit.recording.record` reads its stream;
    ``first`` is the first message to send (``None``: send nothing)."""
    rules = stream_rules()
    linger = rules.close_after_terminal_seconds + 1.0 if linger is None else linger
    url = ws_url(client, session_id)
    headers = handshake_headers(client)
    request = httpx.Request("GET", "http" + url.removeprefix("ws"), headers=headers)
    if client.secret:
        request.extensions[REDACT_EXTENSION] = client.secret
    started = time.monotonic()
    try:
        conn = websocket.create_connection(
            url,
            timeout=max_silence,
            header=[f"{k}: {v}" for k, v in headers.items() if k == "Authorization"],
        )
    except websocket.WebSocketBadStatusException as exc:
        body = exc.resp_body or b""
        response = httpx.Response(
            exc.status_code, headers=dict(exc.resp_headers or {}), content=body, request=request
        )
        return Recording(
            session_id=session_id,
            status_code=exc.status_code,
            headers=response.headers,
            request=request,
            response=response,
            body=body,
            started_at=started,
            ended_at=time.monotonic(),
        )
    status = conn.getstatus() or 0
    response = httpx.Response(status, headers=dict(conn.getheaders() or {}), request=request)
    rec = Recording(
        session_id=session_id,
        status_code=status,
        headers=response.headers,
        request=request,
        response=response,
        started_at=started,
    )
    try:
        if first is not None:
            conn.send(first_message(first))
        _read(conn, rec, stop_after_events, linger, window)
    finally:
        rec.gave_up_at = time.monotonic()
        close(conn)
    return rec


def close(conn: websocket.WebSocket) -> None:
    """Close ``conn`` and its socket: websocket-client's ``close()`` sends the close frame
    but leaves the socket open once the connection counts as closed (the peer closed
    first), and the leaked socket warns in whatever runs when it is collected."""
    conn.close(timeout=1)
    conn.shutdown()  # type: ignore[no-untyped-call]


def _read(
    conn: websocket.WebSocket,
    rec: Recording,
    stop_after_events: int | None,
    linger: float,
    window: float | None,
) -> None:
    while True:
        try:
            opcode, frame = conn.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            rec.ended_at = time.monotonic()
            return
        now = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            data = bytes(frame.data or b"")
            rec.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            rec.ended_at = now
            return
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            payload = frame.data if isinstance(frame.data, bytes | str) else bytes(frame.data)
            parsed = _parsed(payload)
            rec.frames.append(parsed)
            raw = payload if isinstance(payload, bytes) else payload.encode()
            event = _as_event(parsed, now, raw)
            if event is not None:
                add_event(rec, event)
        if stop_after_events is not None and len(rec.numbered()) >= stop_after_events:
            return
        if rec.terminal_at is not None and now - rec.terminal_at > linger:
            return
        if window is not None and now - rec.started_at > window:
            return

"""WebSocket faults: per-connection filters and middlewares that break the WS-* clauses."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.typedefs import Handler

from contract import status_for, stream_rules
from fakes.faults.fault import Fault
from fakes.faults.kit import route
from reference_server.errors import from_http_exception
from reference_server.event_log import Event, encode_message
from reference_server.hooks import WebSocketFilter

OPERATION = "websocketSession"


def _with_frame(event: Event, **changes: object) -> str:
    ws = stream_rules().websocket
    frame = {**json.loads(event.message), **changes}
    return json.dumps({k: v for k, v in frame.items() if v is not None or k != ws.id_field})


# ------------------------------------------------------------------ filters
class FrameWithoutId(WebSocketFilter):
    def messages(self, event: Event) -> list[str]:
        return [_with_frame(event, **{stream_rules().websocket.id_field: None})]


class IdsNotIncreasing(WebSocketFilter):
    def messages(self, event: Event) -> list[str]:
        return [_with_frame(event, **{stream_rules().websocket.id_field: 1})]


class NoTerminalFrame(WebSocketFilter):
    def messages(self, event: Event) -> list[str]:
        return [] if event.event == "complete" else [event.message]


class NoCloseCode(WebSocketFilter):
    def close_code(self) -> int | None:
        return None


class IgnoresResume(WebSocketFilter):
    def resume_after(self) -> int | None:
        return None


class NoReplay(WebSocketFilter):
    def resume_after(self) -> int | None:
        if self.requested_after is None and self.session.finished:
            return self.session.log.last_id - 1
        return self.requested_after


class NoHeartbeat(WebSocketFilter):
    def heartbeat(self) -> str | None:
        return None


class DropsOutput(WebSocketFilter):
    def messages(self, event: Event) -> list[str]:
        return [] if event.event == "output" else [event.message]


class ExtraFields(WebSocketFilter):
    """Valid: vendor fields in every frame and in its data."""

    def messages(self, event: Event) -> list[str]:
        data = {**event.data, "x_vendor": {"trace": "abc"}}
        frame = json.loads(encode_message(event.event, data, event.id))
        return [json.dumps({**frame, "x_transport": "ws"})]


# ------------------------------------------------------------------ middlewares
@web.middleware
async def no_upgrade(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The WebSocket route ignores the handshake (answers as to a plain GET)."""
    if route(request) == OPERATION:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "upgrade"}
        request = request.clone(headers=headers)
    return await handler(request)


@web.middleware
async def unknown_session_upgrades(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A handshake for an unknown session is upgraded, then closed at once."""
    response = await handler(request)
    if route(request) == OPERATION and response.status == status_for(OPERATION, "not_found"):
        ws = web.WebSocketResponse()
        if ws.can_prepare(request).ok:
            await ws.prepare(request)
            await ws.close(code=stream_rules().websocket.close_after_terminal)
            return ws
    return response


@web.middleware
async def no_websocket_route(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A sidecar with REST + SSE only (the seed's minimum): the WebSocket path is an unknown
    route, answered like any other (404 with the error body)."""
    if route(request) == OPERATION:
        return from_http_exception(web.HTTPNotFound())
    return await handler(request)


__all__ = [
    "DropsOutput",
    "ExtraFields",
    "FrameWithoutId",
    "IdsNotIncreasing",
    "IgnoresResume",
    "NoCloseCode",
    "NoHeartbeat",
    "NoReplay",
    "NoTerminalFrame",
    "no_upgrade",
    "no_websocket_route",
    "unknown_session_upgrades",
]


FAULTS = [
    Fault(
        "ws_no_upgrade",
        "the WebSocket route never upgrades",
        catches={"conformance": ("WS-UPGRADE",)},
        middleware=no_upgrade,
    ),
    Fault(
        "ws_unknown_session_upgrades",
        "an unknown session's WebSocket is upgraded, then closed",
        catches={"conformance": ("WS-UNKNOWN-SESSION-404",)},
        middleware=unknown_session_upgrades,
    ),
    Fault(
        "ws_frame_missing_id",
        "frames carry no id",
        catches={"conformance": ("WS-FRAME-SCHEMA",)},
        ws=FrameWithoutId,
    ),
    Fault(
        "ws_ids_not_increasing",
        "every frame carries id 1",
        catches={"conformance": ("WS-IDS-INCREASE",)},
        ws=IdsNotIncreasing,
    ),
    Fault(
        "ws_no_terminal",
        "complete is never sent over the WebSocket",
        catches={"conformance": ("WS-ONE-TERMINAL",)},
        ws=NoTerminalFrame,
    ),
    Fault(
        "ws_no_close_code",
        "the connection is dropped without a close frame",
        catches={"conformance": ("WS-CLOSE-1000",)},
        ws=NoCloseCode,
    ),
    Fault(
        "ws_ignores_resume",
        "resume_after is ignored",
        catches={"conformance": ("WS-RESUME",)},
        ws=IgnoresResume,
    ),
    Fault(
        "ws_no_replay",
        "late WebSocket subscribers get only the last event",
        catches={"conformance": ("WS-REPLAY",)},
        ws=NoReplay,
    ),
    Fault(
        "ws_missing_heartbeat",
        "no heartbeat frames",
        catches={"conformance": ("WS-HEARTBEAT",)},
        ws=NoHeartbeat,
    ),
    Fault(
        "ws_drops_output",
        "output events are not sent over the WebSocket",
        catches={"conformance": ("WS-SAME-EVENTS-AS-SSE",)},
        ws=DropsOutput,
    ),
    Fault(
        "valid_ws_extra_fields",
        "valid: extra fields in WebSocket frames and data",
        catches={"conformance": ()},
        ws=ExtraFields,
    ),
    Fault(
        "no_websocket",
        "serves REST + SSE only: the WebSocket route is an unknown path (404)",
        # WS-UPGRADE fails; every other WS-* clause skips naming it as its precondition
        # (WS-UNKNOWN-SESSION-404 passes: 404); AUTH-* walk only the operations it serves
        catches={"conformance": ("WS-UPGRADE",), "security": ()},
        middleware=no_websocket_route,
    ),
]

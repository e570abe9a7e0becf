"""Building blocks for faulty sidecars: response rewriting middlewares and filter helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from contract import operation
from reference_server.event_log import Event, encode_frame
from reference_server.runtime import EventSink, RunResult, Runtime, SessionSpec

Rewrite = Callable[[web.Request, web.Response], web.StreamResponse | None]


def on_responses(rewrite: Rewrite) -> Middleware:
    """A middleware applying ``rewrite`` to every finished (non-stream) response; a
    ``None`` result keeps the response."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if isinstance(response, web.Response) and not response.prepared:
            replaced = rewrite(request, response)
            if replaced is not None:
                return replaced
        return response

    return middleware


def on_requests(rewrite: Callable[[web.Request], web.Request | web.StreamResponse]) -> Middleware:
    """A middleware that may replace the request (or answer it) before the handler."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        result = rewrite(request)
        if isinstance(result, web.StreamResponse):
            return result
        return await handler(result)

    return middleware


def create_body_rewrite(rewrite: Callable[[dict[str, Any]], None]) -> Middleware:
    """Rewrites a JSON ``POST /sessions`` body before the handler validates it."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if route(request) == "createSession" and request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw)
                rewrite(body)
                raw = json.dumps(body).encode()
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            request._read_bytes = raw  # aiohttp serves read() from this cache
        return await handler(request)

    return middleware


def route(request: web.Request) -> str | None:
    return request.match_info.route.name


def answered(request: web.Request, response: web.StreamResponse, *outcomes: str) -> bool:
    """``response`` is the contract's answer of the request's operation for one of
    ``outcomes`` (``answered(req, resp, "not_found")``): faults pick what to break by
    outcome, never by a status code written here."""
    op = route(request)
    if op is None:
        return False
    known = operation(op).outcomes
    return any(known.get(outcome) == response.status for outcome in outcomes)


def error_body(error: str) -> dict[str, str]:
    """An error body of the contract's shape (fixed timestamp: faults need no clock)."""
    return {"error": error, "timestamp": "2026-01-01T00:00:00Z"}


def body_of(response: web.Response) -> Any:
    assert isinstance(response.body, bytes | bytearray)
    return json.loads(response.body)


def json_like(response: web.Response, body: Any, status: int | None = None) -> web.Response:
    """A JSON response replacing ``response``, keeping its headers."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers.pop("Content-Type", None)
    return web.json_response(body, status=status or response.status, headers=headers)


def reframe(
    event: Event,
    *,
    name: str | None = None,
    event_id: int | str | None = "keep",
    data: dict[str, Any] | None = None,
) -> bytes:
    """The frame of ``event`` with its type, id or data changed."""
    new_id = event.id if event_id == "keep" else event_id
    frame = encode_frame(
        name or event.event,
        dict(data if data is not None else event.data),
        None if new_id is None else int(new_id),
    )
    return frame


def frame_with_text_id(event: Event, text_id: str) -> bytes:
    payload = json.dumps(dict(event.data), separators=(",", ":"))
    return f"event: {event.event}\nid: {text_id}\ndata: {payload}\n\n".encode()


@dataclass
class DelegatingRuntime:
    """A runtime that passes everything to ``inner``: faulty runtimes override ``run`` only."""

    inner: Runtime
    name = "faulty"

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def not_ready_reason(self) -> str | None:
        return self.inner.not_ready_reason()

    @property
    def gates_tools(self) -> bool:
        return self.inner.gates_tools

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        return await self.inner.run(spec, sink)

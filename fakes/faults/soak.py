"""Soak faults: zombie streams after a disconnect, a blocked event loop, and unbounded
buffering for a reader that stops reading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.typedefs import Handler, Middleware

from contract import status_for, stream_rules
from fakes.faults.fault import Fault
from fakes.faults.kit import route
from reference_server.keys import config_key, hooks_key, telemetry_key
from reference_server.lookup import session_or_error

LEAKED_BYTES = 4 * 1024 * 1024
"""What each dead connection keeps alive in :func:`leak_on_disconnect`."""
BLOCK_SECONDS = 0.5
"""How long :func:`blocking_loop` blocks the event loop, once a second and a half: probes
stall (SOAK-PROBES-LIVE), while the rest of the work, which takes the loop's free time,
stays within its own bounds (a loop blocked half the time on a loaded machine also missed
SOAK-RELEASE-ON-RESET's)."""
FREE_SECONDS = 1.0
"""How long the loop runs free between two blocks."""


# ------------------------------------------------------------------ zombie streams
async def _zombie(buffer: bytearray) -> None:
    """A per-connection task nobody cancels, holding the connection's buffer."""
    while buffer:
        await asyncio.sleep(3600)


def leak_on_disconnect() -> Middleware:
    """When a stream's client leaves abruptly, a task and a 4 MiB buffer stay behind, and
    the stream stays counted as active (as if its pump were never cancelled)."""
    zombies: set[asyncio.Task[None]] = set()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if route(request) != "streamSession":
            return await handler(request)
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            _leak(request, zombies)
            raise
        transport = request.transport
        if transport is None or transport.is_closing():
            _leak(request, zombies)
        return response

    return middleware


def _leak(request: web.Request, zombies: set[asyncio.Task[None]]) -> None:
    request.app[telemetry_key].streams_active.inc()
    buffer = bytearray(b"\x01" * LEAKED_BYTES)
    zombies.add(asyncio.get_running_loop().create_task(_zombie(buffer)))


# ------------------------------------------------------------------ blocked event loop
async def _block_periodically() -> None:
    while True:
        time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251 (the fault: a blocking call on the loop)
        await asyncio.sleep(FREE_SECONDS)


async def _blocker(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_block_periodically())
    yield
    task.cancel()


def blocking_loop(app: web.Application) -> None:
    """A periodic synchronous call (half a second, then a second free) on the loop."""
    app.cleanup_ctx.append(_blocker)


# ------------------------------------------------------------------ unbounded buffers
async def _stream_without_backpressure(request: web.Request) -> web.StreamResponse:
    """The stream, written with ``drain=False``: a reader that stops reading makes the
    server buffer everything it would have sent."""
    session = session_or_error(request, "streamSession")
    hooks = request.app[hooks_key]
    telemetry = request.app[telemetry_key]
    stream = hooks.open(session, None)
    response = web.StreamResponse(
        status=status_for("streamSession", "stream"), headers=hooks.response_headers()
    )
    await response.prepare(request)
    writer = response._payload_writer  # the fault: its writer, whose drain it bypasses
    assert isinstance(writer, StreamWriter)
    telemetry.streams_active.inc()
    try:
        await writer.write(stream.preamble(), drain=False)
        interval = request.app[config_key].heartbeat_interval
        async for batch in session.log.follow(0, interval):
            data = b"".join(f for e in batch for f in stream.frames(e)) or stream.heartbeat()
            await writer.write(bytearray(data or b""), drain=False)
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        telemetry.streams_active.dec()
    return response


def unbounded_buffer() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            route(request) == "streamSession"
            and stream_rules().resume_header not in request.headers
        ):
            return await _stream_without_backpressure(request)
        return await handler(request)

    return middleware


FAULTS = [
    Fault(
        "soak_zombie_streams",
        "a stream whose client left abruptly stays active, with a task and 4 MiB buffer",
        catches={"soak": ("SOAK-RELEASE-ON-RESET", "SOAK-MEMORY-BASELINE")},
        middleware=leak_on_disconnect(),
    ),
    Fault(
        "soak_blocking_loop",
        "a blocking call holds the event loop half a second in every 1.5 s (probes stall)",
        catches={"soak": ("SOAK-PROBES-LIVE",)},
        patch_app=blocking_loop,
    ),
    Fault(
        "soak_unbounded_buffer",
        "streams are written without backpressure: a stalled reader is buffered in full",
        catches={"soak": ("SOAK-BOUNDED-BUFFER",)},
        middleware=unbounded_buffer(),
    ),
]

"""Streams still open at shutdown are closed from ``on_shutdown`` (aiohttp's WeakSet
pattern): after a grace for them to end by themselves, a WebSocket gets 1001 going away."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSCloseCode, web

from reference_server.open_streams import OpenStreams
from suites.clientkit.waiting import until

streams_key = web.AppKey("streams", OpenStreams)


async def _held(request: web.Request) -> web.WebSocketResponse:
    """A WebSocket that nothing ends but the shutdown (its handler waits for the close)."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    streams = request.app[streams_key]
    streams.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        streams.discard(ws)
    return ws


async def test_a_websocket_still_open_at_shutdown_is_closed_going_away() -> None:
    app = web.Application()
    app[streams_key] = OpenStreams()
    app.router.add_get("/ws", _held)

    async def close_streams(app: web.Application) -> None:
        await app[streams_key].close_all(grace=0.2)

    app.on_shutdown.append(close_streams)
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws,
    ):
        await until(lambda: len(app[streams_key]) == 1, 5.0, "the stream registered")
        cleanup = asyncio.create_task(runner.cleanup())
        message = await ws.receive(timeout=5.0)
        await cleanup
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert message.data == WSCloseCode.GOING_AWAY
    assert len(app[streams_key]) == 0

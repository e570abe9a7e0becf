"""The app's open streams (SSE responses and WebSockets), held weakly, closed at shutdown.

aiohttp's pattern (a ``WeakSet`` closed from ``on_shutdown``): the drain first ends every
session, so each reader is handed its terminal event and its handler returns; the streams
still open after that (a reader that stopped reading) get ``SHUTDOWN_GRACE`` to end, then
are closed: a WebSocket with 1001 (going away); an SSE response is marked to close its
connection (its handler, still writing, is then cancelled by aiohttp's shutdown timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from aiohttp import WSCloseCode, web

SHUTDOWN_MESSAGE = b"server shutdown"


class OpenStreams:
    def __init__(self) -> None:
        self._open: weakref.WeakSet[web.StreamResponse] = weakref.WeakSet()
        self._none_open = asyncio.Event()
        self._none_open.set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, stream: web.StreamResponse) -> None:
        self._open.add(stream)
        self._none_open.clear()

    def discard(self, stream: web.StreamResponse) -> None:
        """The stream's handler ended."""
        self._open.discard(stream)
        if not self._open:
            self._none_open.set()

    async def close_all(self, grace: float) -> None:
        """Give the open streams ``grace`` seconds to end, then close those left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_open.wait(), grace)
        for stream in list(self._open):
            if isinstance(stream, web.WebSocketResponse):
                await stream.close(code=WSCloseCode.GOING_AWAY, message=SHUTDOWN_MESSAGE)
            else:
                stream.force_close()
            self.discard(stream)

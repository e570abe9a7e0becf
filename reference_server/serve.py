"""Run an app on a real socket until SIGTERM/SIGINT, then drain and exit cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from reference_server.config import Config

log = logging.getLogger("reference_server")

LISTENING_PREFIX = "opencode-sidecar listening on "


@asynccontextmanager
async def running(app: web.Application, config: Config) -> AsyncIterator[str]:
    """Serve ``app`` on ``config.host:config.port``; yields the base URL; cleans up on exit."""
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=config.shutdown_grace + 2,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=4096, reuse_address=True)
    try:
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        yield f"http://{shown}:{port}"
    finally:
        await runner.cleanup()


async def serve_forever(app: web.Application, config: Config) -> None:
    """Serve until SIGTERM or SIGINT; print the URL on the first stdout line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(app, config) as url:
        log.info("listening", extra={"url": url, "config": config.redacted()})
        sys.stdout.write(f"{LISTENING_PREFIX}{url}\n")
        sys.stdout.flush()
        await stop.wait()
        log.info("shutting down")

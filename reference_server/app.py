"""``create_app(config, runtime)``: the reference sidecar as an aiohttp application (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from contract import operations
from reference_server import handlers
from reference_server.config import Config
from reference_server.conversation import FollowUps
from reference_server.hooks import StreamHooks
from reference_server.keys import (
    Lifecycle,
    config_key,
    follow_ups_key,
    hooks_key,
    lifecycle_key,
    runtime_key,
    store_key,
    streams_key,
    telemetry_key,
)
from reference_server.middleware import (
    add_request_id_header,
    auth_middleware,
    error_middleware,
    request_id_middleware,
    timing_middleware,
)
from reference_server.open_streams import OpenStreams
from reference_server.permission_routes import answer_permission
from reference_server.project import Project
from reference_server.runtime import Runtime
from reference_server.sessions import SessionStore
from reference_server.storage import Storage
from reference_server.streaming import stream_session
from reference_server.telemetry import Telemetry
from reference_server.tracing import request_middleware
from reference_server.websocket import websocket_session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HANDLERS: Mapping[str, Handler] = {
    "getLiveness": handlers.liveness,
    "getHealth": handlers.health,
    "getReadiness": handlers.readiness,
    "getMetrics": handlers.metrics,
    "createSession": handlers.create_session,
    "getSessionStatus": handlers.session_status,
    "streamSession": stream_session,
    "websocketSession": websocket_session,
    "cancelSession": handlers.cancel_session,
    "answerPermission": answer_permission,
    "getSessionDiff": handlers.session_diff,
}


def create_app(
    config: Config,
    runtime: Runtime,
    *,
    hooks: StreamHooks | None = None,
    middlewares: Iterable[Middleware] = (),
    extra_routes: Iterable[web.RouteDef] = (),
    storage: Storage | None = None,
    project: Project | None = None,
) -> web.Application:
    """Build the app. ``storage`` (opened by the caller) makes sessions durable; without
    it they live in memory. ``project`` (opened by the caller from ``PROJECT_DIR``) gives
    each session a checkout of it. ``hooks``/``middlewares`` exist for the harness's faulty
    sidecars."""
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            *middlewares,
            request_middleware,
            request_id_middleware,
            timing_middleware,  # outside error_middleware: it sees the status sent
            error_middleware,
            auth_middleware,
        ],
    )
    telemetry = Telemetry()
    app[config_key] = config
    app[runtime_key] = runtime
    app[telemetry_key] = telemetry
    app[hooks_key] = hooks or StreamHooks()
    app[lifecycle_key] = Lifecycle()
    app[streams_key] = OpenStreams()
    app[store_key] = SessionStore(
        runtime=runtime,
        workspace_dir=config.workspace_dir,
        max_running=config.max_concurrent_sessions,
        session_timeout=config.session_timeout,
        telemetry=telemetry,
        storage=storage,
        retention=config.session_retention,
        max_retained=config.max_retained_sessions,
        permission_timeout=config.permission_timeout,
        project=project,
    )
    app[follow_ups_key] = FollowUps()
    for op in operations().values():
        app.router.add_route(op.method, op.path, HANDLERS[op.operation_id], name=op.operation_id)
    app.router.add_routes(list(extra_routes))
    app.on_response_prepare.append(add_request_id_header)
    app.cleanup_ctx.append(_runtime_lifetime)
    app.cleanup_ctx.append(_retention_sweeper)
    if storage is not None:
        app.cleanup_ctx.append(_storage_lifetime)
    app.on_shutdown.append(_drain)
    app.on_shutdown.append(_close_streams)  # after the drain: readers have their terminal event
    return app


async def _runtime_lifetime(app: web.Application) -> AsyncIterator[None]:
    runtime = app[runtime_key]
    await runtime.start()
    yield
    await runtime.close()


async def _retention_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Retire finished sessions past retention even when no request looks them up."""
    sessions = app[store_key]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(sessions.retention_tick())
            sessions.retire_expired()

    task = asyncio.get_running_loop().create_task(sweep(), name="retention-sweeper")
    yield
    task.cancel()


async def _storage_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Startup: load the store, end the sessions a crash interrupted, start the writer.
    Cleanup (after the drain): commit what is queued, close the file."""
    sessions = app[store_key]
    storage = sessions.storage
    assert storage is not None
    grace = app[config_key].shutdown_grace
    interrupted = sessions.restore(storage.load())
    storage.start(asyncio.get_running_loop())
    for session in interrupted:
        await sessions.committed(session, grace)
    yield
    await storage.close(grace)


async def _close_streams(app: web.Application) -> None:
    await app[streams_key].close_all(app[config_key].shutdown_grace)


async def _drain(app: web.Application) -> None:
    """SIGTERM: refuse new sessions, end running ones so every stream gets its terminal event."""
    app[lifecycle_key].draining = True
    await app[store_key].interrupt_all(app[config_key].shutdown_grace)

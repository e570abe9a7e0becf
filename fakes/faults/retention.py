"""Retention faults: a sidecar that keeps every finished session (memory grows with
churn), and one that forgets finished sessions long before its retention ends."""

from __future__ import annotations

import mmap
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fakes.faults.fault import Fault
from fakes.faults.kit import route
from reference_server.errors import ApiError
from reference_server.keys import config_key, store_key

NEVER = 10.0**9
"""A retention no run outlives (about 32 years)."""
RETAINED_BALLAST = 32 * 1024
"""Bytes each kept session holds beyond its log, like a runtime's per-session state (the
issue's independent Node sidecar kept ~24 KiB per finished session)."""
EARLY_FRACTION = 0.5
""":func:`forget_early` forgets a finished session at this fraction of its retention."""

SESSION_ROUTES = frozenset(
    {"getSessionStatus", "streamSession", "websocketSession", "cancelSession"}
)


def _native_state() -> mmap.mmap:
    """Fresh pages, written so they are resident (a native runtime's state: it never reuses
    memory the Python heap freed, so a leak of it shows in RSS whatever ran before)."""
    state = mmap.mmap(-1, RETAINED_BALLAST)
    state.write(b"\x01" * RETAINED_BALLAST)
    return state


def per_session_state() -> Middleware:
    """Each session created holds :data:`RETAINED_BALLAST` bytes of state for as long as
    the sidecar keeps it (what a runtime's per-session objects cost)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if route(request) == "createSession" and response.status < 300:
            location = response.headers.get("Location", "")
            session = request.app[store_key].get(location.rstrip("/").split("/")[-2])
            if session is not None:
                setattr(session, "runtime_state", _native_state())  # noqa: B010
        return response

    return middleware


def _finished_seconds_ago(updated_at: str) -> float:
    then = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    return (datetime.now(UTC) - then).total_seconds()


def forget_early(app: web.Application) -> None:
    """A finished session answers 404 once half its SESSION_RETENTION has passed (a
    middleware inside the reference's own, so auth and the error body still apply)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = route(request)
        if name in SESSION_ROUTES:
            session = request.app[store_key].get(request.match_info.get("session_id", ""))
            retention = request.app[config_key].session_retention
            if (
                session is not None
                and session.log.closed
                and _finished_seconds_ago(session.updated_at) > EARLY_FRACTION * retention
            ):
                raise ApiError(str(name), "not_found", "session not found", {})
        return await handler(request)

    app.middlewares.append(middleware)


FAULTS = [
    Fault(
        "retention_keeps_everything",
        "finished sessions are never let go (no retention): memory grows with every session",
        catches={
            "retention": ("RETENTION-EXPIRES", "RETENTION-CAP"),
            "soak": ("SOAK-CHURN-MEMORY",),
        },
        config={"session_retention": NEVER, "max_retained_sessions": 10**9},
        middleware=per_session_state(),
    ),
    Fault(
        "retention_forgets_early",
        "a finished session answers 404 after half its declared SESSION_RETENTION",
        catches={"retention": ("RETENTION-READABLE",)},
        patch_app=forget_early,
    ),
    Fault(
        "retention_ignores_cap",
        "MAX_RETAINED_SESSIONS is ignored: every session finished within the retention is kept",
        catches={"retention": ("RETENTION-CAP",), "soak": ("SOAK-CHURN-MEMORY",)},
        config={"max_retained_sessions": 10**9},
        middleware=per_session_state(),
    ),
]

"""REST handlers: probes, create, status, cancel, metrics. Routes come from the contract."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from contract import status_for, validate_component
from reference_server.conversation import ConversationNotFoundError, ConversationRunningError
from reference_server.errors import ApiError
from reference_server.event_log import utc_now
from reference_server.keys import (
    config_key,
    follow_ups_key,
    lifecycle_key,
    runtime_key,
    store_key,
    telemetry_key,
)
from reference_server.logs import session_id_var
from reference_server.lookup import session_or_error
from reference_server.permissions import PermissionPolicy
from reference_server.project import UnknownRefError
from reference_server.runtime import ModelConfig, SessionSpec
from reference_server.sandbox import Sandbox
from reference_server.sessions import Session, SessionExistsError, SessionLimitError

JSON_TYPE = "application/json"
REDACTED = "***"


async def liveness(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, status=status_for("getLiveness", "alive"))


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, status=status_for("getHealth", "alive"))


def not_ready_reason(app: web.Application) -> str | None:
    """Why sessions cannot start now, or ``None``."""
    if app[lifecycle_key].draining:
        return "shutting down"
    workspace = app[config_key].workspace_dir
    if not workspace.is_dir() or not os.access(workspace, os.R_OK | os.W_OK | os.X_OK):
        return "workspace not accessible"
    storage = app[store_key].storage
    if storage is not None and (reason := storage.not_ready_reason()) is not None:
        return reason
    return app[runtime_key].not_ready_reason()


def sandbox_details(app: web.Application) -> dict[str, Any]:
    """``{"sandbox": ...}`` for the /ready body, when the runtime confines its tools."""
    sandbox = getattr(app[runtime_key], "sandbox", None)
    return {"sandbox": sandbox.details()} if isinstance(sandbox, Sandbox) else {}


async def readiness(request: web.Request) -> web.Response:
    reason = not_ready_reason(request.app)
    details = sandbox_details(request.app)
    if reason is None:
        body: dict[str, Any] = {"status": "ready", **details}
        return web.json_response(body, status=status_for("getReadiness", "ready"))
    body = {"status": "not ready", "error": reason, "timestamp": utc_now(), **details}
    return web.json_response(body, status=status_for("getReadiness", "not_ready"))


async def metrics(request: web.Request) -> web.Response:
    body = request.app[telemetry_key].exposition()
    return web.Response(
        body=body,
        status=status_for("getMetrics", "metrics"),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def _scrub(text: str, secret: object) -> str:
    if isinstance(secret, str) and len(secret) >= 4:
        return text.replace(secret, REDACTED)
    return text


async def _read_create_body(request: web.Request) -> dict[str, Any]:
    return await read_json_body(request, "createSession", "CreateSessionRequest")


async def read_json_body(request: web.Request, op: str, component: str) -> dict[str, Any]:
    """The request's JSON object, valid against ``component``; else the operation's 400/415."""
    if request.content_type != JSON_TYPE:
        raise ApiError(
            op,
            "unsupported_media_type",
            "unsupported media type",
            {"expected": JSON_TYPE, "received": request.content_type},
        )
    raw = await request.read()  # raises 413 past client_max_size
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(
            op, "invalid", "request body is not valid JSON", {"reason": str(exc)}
        ) from None
    if not isinstance(body, dict):
        raise ApiError(op, "invalid", "request body must be a JSON object", {"field": ""})
    problems = validate_component(component, body)
    if problems:
        model_config = body.get("model_config")
        secret = model_config.get("api_key") if isinstance(model_config, dict) else None
        first = problems[0]
        raise ApiError(
            op,
            "invalid",
            "invalid request",
            {
                "field": first.field,
                "reason": _scrub(first.reason, secret),
                "violations": [
                    {"field": p.field, "reason": _scrub(p.reason, secret)} for p in problems[:20]
                ],
            },
        )
    return body


def _earlier(body: dict[str, Any], request: web.Request) -> Session | None:
    """The finished session ``continue_from`` names (404/409 when it cannot be continued)."""
    wanted = body.get("continue_from")
    if wanted is None:
        return None
    store = request.app[store_key]
    try:
        return request.app[follow_ups_key].earlier(store.running(), store.get(wanted), wanted)
    except ConversationNotFoundError:
        raise ApiError(
            "createSession",
            "continued_not_found",
            "the session to continue was not found",
            {"continue_from": wanted},
        ) from None
    except ConversationRunningError:
        raise ApiError(
            "createSession",
            "conversation_running",
            "the conversation's current turn is still running",
            {"continue_from": wanted},
        ) from None


def _workspace(request: web.Request, session_id: str, earlier: Session | None) -> Path:
    """Where a session's tools work: its own directory, or, without a project, its
    conversation's (with a project a follow-up gets its own checkout of the earlier turn's
    commit: the same files, and a folder retention removes with its own session)."""
    store = request.app[store_key]
    if earlier is not None and store.project is None:
        return earlier.spec.workspace
    return store.workspace_for(session_id)


async def _base(
    body: dict[str, Any], request: web.Request, earlier: Session | None
) -> tuple[str | None, str | None]:
    """(base_ref, its commit) with a project; an unknown ref answers ``unknown_ref``.
    Without a project ``base_ref`` is ignored (the session starts in an empty folder). A
    follow-up starts where its earlier turn ended: that turn's branch and commit (its base,
    when it changed nothing), whatever ``base_ref`` says."""
    project = request.app[store_key].project
    if project is None:
        return None, None
    if earlier is not None:
        change = earlier.change or {}
        if change.get("commit"):
            return str(change["branch"]), str(change["commit"])
        return earlier.spec.base_ref, earlier.spec.base_commit
    ref = body.get("base_ref") or "HEAD"
    try:
        return ref, await project.resolve(ref)
    except UnknownRefError:
        raise ApiError(
            "createSession",
            "unknown_ref",
            "base_ref names no commit of the project",
            {"field": "base_ref", "base_ref": ref},
        ) from None


def _spec(
    body: dict[str, Any],
    request: web.Request,
    earlier: Session | None,
    base: tuple[str | None, str | None],
) -> SessionSpec:
    mc = body["model_config"]
    session_id = body["session_id"]
    history = request.app[follow_ups_key].history(earlier) if earlier is not None else ()
    return SessionSpec(
        base_ref=base[0],
        base_commit=base[1],
        session_id=session_id,
        prompt=body["prompt"],
        system_prompt=body.get("system_prompt"),
        workspace=_workspace(request, session_id, earlier),
        history=history,
        continued_from=earlier.session_id if earlier is not None else None,
        model=ModelConfig(
            provider=mc["provider"],
            model=mc["model"],
            api_key=mc["api_key"],
            temperature=mc.get("temperature"),
            max_tokens=mc.get("max_tokens"),
            enabled_tools=tuple(mc.get("enabled_tools", ("read", "write", "bash", "edit"))),
            model_version=mc.get("model_version"),
            api_endpoint=mc.get("api_endpoint"),
            system_prompt=mc.get("system_prompt"),
        ),
    )


async def create_session(request: web.Request) -> web.Response:
    op = "createSession"
    body = await _read_create_body(request)
    config = request.app[config_key]
    retry = {"Retry-After": str(config.retry_after)}
    reason = not_ready_reason(request.app)
    if reason is not None:
        raise ApiError(
            op, "limit_reached", f"sidecar not ready: {reason}", {"reason": reason}, retry
        )
    store = request.app[store_key]
    session_id_var.set(body["session_id"])
    earlier = _earlier(body, request)
    policy = body.get("permissions")
    if policy is not None and not request.app[runtime_key].gates_tools:
        raise ApiError(
            op,
            "invalid",
            "this sidecar's runtime cannot ask before a tool runs",
            {"field": "permissions", "reason": f"not supported by runtime {config.runtime}"},
        )
    base = await _base(body, request, earlier)
    try:
        session = store.create(
            _spec(body, request, earlier, base),
            PermissionPolicy.from_body(policy) if policy is not None else None,
        )
    except SessionExistsError:
        raise ApiError(
            op, "duplicate", "session already exists", {"session_id": body["session_id"]}
        ) from None
    except SessionLimitError:
        raise ApiError(
            op,
            "limit_reached",
            "concurrent session limit reached",
            {"limit": config.max_concurrent_sessions},
            retry,
        ) from None
    status = session.status
    await store.committed(session, config.shutdown_grace)  # the id is taken for good
    location = request.app.router["getSessionStatus"].url_for(session_id=session.session_id)
    return web.json_response(
        {
            "session_id": session.session_id,
            "status": status,
            "created_at": session.created_at,
        },
        status=status_for(op, "created"),
        headers={"Location": str(location)},
    )


async def session_status(request: web.Request) -> web.Response:
    session = session_or_error(request, "getSessionStatus")
    return web.json_response(session.status_body(), status=status_for("getSessionStatus", "status"))


async def cancel_session(request: web.Request) -> web.Response:
    op = "cancelSession"
    session = session_or_error(request, op)
    store = request.app[store_key]
    if session.finished and session.cancelled_at is None:
        raise ApiError(
            op, "already_finished", "session already finished", {"status": session.status}
        )
    if not session.finished:
        await store.cancel(session, "cancelled_by_client")
    return web.json_response(
        {
            "session_id": session.session_id,
            "status": session.status,
            "cancelled_at": session.cancelled_at,
        },
        status=status_for(op, "cancelled"),
    )


async def session_diff(request: web.Request) -> web.Response:
    """The session's change against its base as a unified diff (so far, while it runs)."""
    op = "getSessionDiff"
    session = session_or_error(request, op)
    found = await request.app[store_key].change_so_far(session)
    if found is None:
        raise ApiError(
            op, "not_found", "this sidecar has no project", {"session_id": session.session_id}
        )
    base, diff = found
    return web.Response(
        text=diff,
        status=status_for(op, "diff"),
        content_type="text/x-diff",
        headers={"X-Base-Commit": base},
    )

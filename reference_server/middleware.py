"""Middlewares: JSON errors on every path, bearer auth, request ids, request timing."""

from __future__ import annotations

import hmac
import logging
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from contract import operation, request_id_pattern
from reference_server.config import Config
from reference_server.errors import ApiError, error_response, from_http_exception
from reference_server.keys import config_key, telemetry_key
from reference_server.logs import request_id_var

log = logging.getLogger("reference_server.http")

REQUEST_ID_HEADER = "X-Request-ID"
request_id_key = web.RequestKey("request_id", str)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every 4xx/5xx answer, aiohttp's own included, carries the contract's JSON error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return from_http_exception(exc)
    except (ConnectionResetError, TimeoutError) as exc:
        log.info("client went away: %s", type(exc).__name__)
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal server error")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adopt a safe ``X-Request-ID`` or mint one; every log line of the request carries it."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if request_id_pattern().fullmatch(incoming) else uuid.uuid4().hex
    request[request_id_key] = request_id
    token = request_id_var.set(request_id)
    try:
        return await handler(request)
    finally:
        request_id_var.reset(token)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs before headers go out, streams included."""
    request_id = request.get(request_id_key)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time each request (metrics) and log one line for it, with the status actually sent.

    It runs outside :func:`error_middleware`, so every refusal (an ``ApiError``, aiohttp's
    own 404/405/413) is already the response it sees; a client that went away mid-answer
    has no status to record (``null`` in the log, not counted)."""
    started = time.perf_counter()
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect or other non-error answer, re-raised
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = request.match_info.route.name or "unmatched"
        if status is not None:
            request.app[telemetry_key].request_answered(route, request.method, status, elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "ms": round(elapsed * 1000, 2),
            },
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``OPENCODE_SHARED_SECRET``, every non-probe operation needs the bearer token.

    The token is compared in constant time, and every refusal is the same answer (no hint
    about what was wrong).
    """
    config = request.app[config_key]
    operation_id = request.match_info.route.name
    if config.shared_secret and operation_id is not None and _needs_auth(config, operation_id):
        token = bearer_token(request.headers.get("Authorization", ""))
        if not hmac.compare_digest(token.encode(), config.shared_secret.encode()):
            raise ApiError(operation_id, "unauthorized", "unauthorized")
    return await handler(request)


def bearer_token(header: str) -> str:
    """The token of ``Bearer <token>`` (the scheme is case-insensitive, RFC 9110 11.1,
    and ``1*SP`` may separate it, RFC 6750 2.1); ``""`` for any other credentials."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.lstrip(" ")


def _needs_auth(config: Config, operation_id: str) -> bool:
    if operation_id.startswith("_"):  # internal test-mode routes
        return False
    op = operation(operation_id)
    if op.public:
        return False
    return not (op.operation_id == "getMetrics" and not config.metrics_require_auth)

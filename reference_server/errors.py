"""The contract's JSON error body, and the exception handlers raise to produce one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from contract import status_for
from reference_server.event_log import utc_now


def error_body(message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "timestamp": utc_now()}
    if details:
        body["details"] = dict(details)
    return body


def error_response(
    status: int,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(message, details), status=status, headers=headers)


class ApiError(Exception):
    """An error outcome of a contract operation; the middleware renders it."""

    def __init__(
        self,
        operation_id: str,
        outcome: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status_for(operation_id, outcome)
        self.message = message
        self.details = details
        self.headers = headers

    def response(self) -> web.Response:
        return error_response(self.status, self.message, self.details, self.headers)


_REASONS = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


def from_http_exception(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (unknown route, wrong method, oversized body) as JSON bodies."""
    details: dict[str, Any] = {}
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    if exc.status == 405 and "Allow" in exc.headers:
        details["allowed"] = exc.headers["Allow"].split(",")
    message = _REASONS.get(exc.status, exc.reason.lower() or "error")
    return error_response(exc.status, message, details or None, headers)

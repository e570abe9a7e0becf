"""Shared expectations: status codes from the contract, error bodies, JSON bodies, the
timeout's terminal event."""

from __future__ import annotations

from typing import Any

import httpx

from contract import status_for, stream_rules, validate_component
from suites.checks.verdict import check, violation
from suites.clientkit.recording import data_of
from suites.clientkit.sse import SSEEvent

JSON = "application/json"


def expect_status(
    response: httpx.Response, operation_id: str, outcome: str, title: str | None = None
) -> None:
    """The response has the status the contract gives ``outcome`` of ``operation_id``."""
    expected = status_for(operation_id, outcome)
    if response.status_code != expected:
        violation(
            title or f"{operation_id}: {outcome} must answer {expected}",
            f"HTTP {expected}",
            f"HTTP {response.status_code}: {body_text(response)}",
            response,
        )


def body_text(response: httpx.Response, limit: int = 300) -> str:
    """The start of the body, without reading a stream that was not read."""
    try:
        return response.text[:limit]
    except httpx.ResponseNotRead:
        return f"({response.headers.get('content-type', 'unknown')} stream, not read)"


def json_body(response: httpx.Response, title: str) -> Any:
    """The JSON body, or a violation naming what came instead."""
    if not response.headers.get("content-type", "").startswith(JSON):
        violation(title, f"Content-Type {JSON}", response.headers.get("content-type"), response)
    try:
        return response.json()
    except ValueError:
        violation(title, "a JSON body", response.text[:300], response)


def expect_schema(response: httpx.Response, component: str, title: str) -> dict[str, Any]:
    body = json_body(response, title)
    problems = validate_component(component, body)
    if problems:
        violation(
            title, f"a body valid against {component}", "; ".join(map(str, problems[:5])), response
        )
    return dict(body)


def expect_error_body(response: httpx.Response, title: str) -> dict[str, Any]:
    """A 4xx/5xx body that is the contract's error object."""
    return expect_schema(response, "Error", title)


def error_details(response: httpx.Response) -> dict[str, Any] | None:
    """``details`` of an error body, or ``None`` when the body is not a JSON error object
    (REST-ERROR-BODY reports that)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    details = body.get("details")
    return details if isinstance(details, dict) else {}


def expect_timeout_terminal(
    event: SSEEvent, title: str, response: httpx.Response | None = None
) -> None:
    """``event`` (a session's terminal event) is the SESSION_TIMEOUT error the contract
    names (stream.yaml ``timeout_event`` with ``timeout_data``)."""
    rules = stream_rules()
    data = data_of(event) or {}
    wanted = dict(rules.timeout_data)
    check(
        event.event == rules.timeout_event and all(data.get(k) == v for k, v in wanted.items()),
        title,
        f"{rules.timeout_event} {wanted}",
        f"{event.event} {event.data}",
        response,
    )

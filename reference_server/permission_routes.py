"""Answering a permission request: ``POST /sessions/{id}/permissions/{request_id}`` and the
WebSocket's ``permission_reply`` message (asyncapi.yaml ``receivePermissionReply``) share
:func:`give_answer`, so both refuse the same way (openapi.yaml ``answerPermission``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from contract import load_openapi, operation, status_for, validate_component
from reference_server.errors import ApiError, error_body
from reference_server.handlers import read_json_body
from reference_server.lookup import session_or_error
from reference_server.permissions import NotPendingError, UnknownRequestError
from reference_server.sessions import Session

OPERATION = "answerPermission"
NOT_PENDING = {
    "answered": "permission request already answered",
    "expired": "permission request expired (PERMISSION_TIMEOUT): it was denied",
    "ended": "the session ended while the request waited",
}


class AnswerRefusedError(Exception):
    """An answer the contract refuses: ``outcome`` is the answerPermission x-outcome."""

    def __init__(self, outcome: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.details = details


@cache
def _request_id_validator() -> Draft202012Validator:
    """The ``request_id`` path parameter's schema (openapi.yaml)."""
    path = load_openapi()["paths"][operation(OPERATION).path]
    schema = next(p["schema"] for p in path["parameters"] if p.get("name") == "request_id")
    return Draft202012Validator(schema)


def give_answer(
    session: Session, request_id: str, answer: dict[str, Any], via: str = "rest"
) -> dict[str, Any]:
    """Answer ``request_id`` of ``session`` with a valid ``PermissionAnswer`` body."""
    gate = session.gate
    unknown = AnswerRefusedError(
        "unknown_request", "permission request not found", {"request_id": request_id}
    )
    if gate is None:
        raise unknown
    try:
        answered_at = gate.answer(request_id, answer["decision"], answer.get("message", ""), via)
    except UnknownRequestError:
        raise unknown from None
    except NotPendingError as exc:
        details = {"request_id": request_id, "state": exc.state, "decision": exc.decision}
        raise AnswerRefusedError("not_pending", NOT_PENDING[exc.state], details) from None
    return {
        "session_id": session.session_id,
        "request_id": request_id,
        "decision": answer["decision"],
        "answered_at": answered_at,
    }


async def answer_permission(request: web.Request) -> web.Response:
    session = session_or_error(request, OPERATION)
    request_id = request.match_info["request_id"]
    if not _request_id_validator().is_valid(request_id):
        raise ApiError(
            OPERATION,
            "invalid",
            "malformed request id",
            {"field": "request_id", "reason": "must match the contract's request_id pattern"},
        )
    body = await read_json_body(request, OPERATION, "PermissionAnswer")
    try:
        answered = give_answer(session, request_id, body)
    except AnswerRefusedError as exc:
        raise ApiError(OPERATION, exc.outcome, exc.message, exc.details) from None
    return web.json_response(answered, status=status_for(OPERATION, "answered"))


REPLY_FIELD = "permission_reply"
REFUSED_FIELD = "reply_refused"


def ws_reply(session: Session, message: Any) -> dict[str, Any] | None:
    """Handle a WebSocket client's message: ``None`` when it was no permission reply or was
    taken, else the ``reply_refused`` frame to send back (asyncapi.yaml ``ReplyRefused``)."""
    if not isinstance(message, dict) or REPLY_FIELD not in message:
        return None
    reply = message[REPLY_FIELD]
    request_id = reply.get("request_id") if isinstance(reply, dict) else None
    answer = (
        {k: v for k, v in reply.items() if k != "request_id"} if isinstance(reply, dict) else {}
    )
    problems = validate_component("PermissionAnswer", answer)
    if not isinstance(request_id, str) or problems:
        reason = problems[0].reason if problems else "request_id must be a string"
        return _refused("invalid", "invalid permission reply", {"reason": reason})
    try:
        give_answer(session, request_id, answer, via="websocket")
    except AnswerRefusedError as exc:
        return _refused(exc.outcome, exc.message, exc.details)
    return None


def _refused(outcome: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {REFUSED_FIELD: {**error_body(message, details), "outcome": outcome}}

"""Finding the session a path names, with the contract's 400/404 outcomes."""

from __future__ import annotations

import re

from aiohttp import web

from contract import UUID_PATTERN
from reference_server.errors import ApiError
from reference_server.keys import store_key
from reference_server.logs import session_id_var
from reference_server.sessions import Session

UUID_TEXT = re.compile(UUID_PATTERN)


def session_or_error(request: web.Request, operation_id: str) -> Session:
    session_id = request.match_info["session_id"]
    if not UUID_TEXT.match(session_id):
        raise ApiError(
            operation_id,
            "invalid",
            "malformed session id",
            {"field": "session_id", "reason": "must be a UUID"},
        )
    session_id_var.set(session_id)
    session = request.app[store_key].get(session_id)
    if session is None:
        raise ApiError(operation_id, "not_found", "session not found", {"session_id": session_id})
    return session

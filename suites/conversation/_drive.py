"""Running a session while answering what it asks: the stream read event by event, a
responder called on each ``permission_request`` (it may answer over REST, poll the
status, note what it saw), and the fake model's requests of a session found by the words
of its prompts."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract import status_for, stream_rules
from suites.agent._audit import recorded_requests
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config, session_body


@dataclass
class Drive:
    """One session as a client saw it: its events in order and what the responder did."""

    session_id: str
    create: httpx.Response
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: list[httpx.Response] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    ended: bool = False

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == kind]

    def result_of(self, call: Mapping[str, Any]) -> Any:
        """The ``result`` of the call's tool_result (``None`` without one)."""
        found = [r for r in self.of("tool_result") if r.get("call_id") == call.get("call_id")]
        return found[0].get("result") if found else None

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [c for c in self.of("tool_call") if c.get("tool") == tool]

    def index_of(self, kind: str, **match: Any) -> int | None:
        for n, (event, data) in enumerate(self.events):
            if event == kind and all(data.get(k) == v for k, v in match.items()):
                return n
        return None


Responder = Callable[[SidecarClient, Drive, dict[str, Any]], None]
"""Called with each ``permission_request`` event's data, as it arrives."""


def never_answer(client: SidecarClient, drive: Drive, request: dict[str, Any]) -> None:
    return None


def answer(
    client: SidecarClient, drive: Drive, request_id: Any, decision: str, message: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"decision": decision}
    if message is not None:
        body["message"] = message
    response = client.call(
        "answerPermission",
        json=body,
        path={"session_id": drive.session_id, "request_id": str(request_id)},
    )
    drive.answers.append(response)
    return response


def start(
    client: SidecarClient,
    prompt: str,
    config: Mapping[str, Any],
    **extra: Any,
) -> tuple[str, httpx.Response]:
    """POST /sessions with a fresh id and ``extra`` fields (continue_from, permissions)."""
    session_id = str(uuid.uuid4())
    body = {**session_body(session_id, prompt, config), **extra}
    return session_id, client.call("createSession", json=body)


def drive(
    client: SidecarClient,
    session_id: str,
    create: httpx.Response,
    respond: Responder = never_answer,
    *,
    max_silence: float,
    window: float = 60.0,
) -> Drive:
    """Read the session's stream to its terminal event (at most ``window`` s), calling
    ``respond`` on each permission request; a session still running then is cancelled."""
    run = Drive(session_id, create)
    if create.status_code != status_for("createSession", "created"):
        precondition_failed("CREATE-201", f"POST /sessions answered {create.status_code}")
    rules = stream_rules()
    deadline = time.monotonic() + window
    with client.open_stream(session_id, read_timeout=max_silence) as stream:
        try:
            for chunk in stream.chunks():
                for event in stream.parser.feed(chunk):
                    try:
                        data = json.loads(event.data)
                    except ValueError:
                        continue
                    if not isinstance(data, dict):
                        continue
                    run.events.append((event.event, data))
                    if event.event == "permission_request":
                        respond(client, run, data)
                    if rules.is_terminal(event.event, data):
                        run.ended = True
                        return run
                if time.monotonic() > deadline:
                    break
        except httpx.HTTPError:
            pass
    client.cancel(session_id)
    return run


def marker() -> str:
    return secrets.token_hex(6)


def plan_config(scenario: str, endpoint: str, api_key: str, **extra: Any) -> dict[str, Any]:
    return model_config(scenario, endpoint, api_key, **extra)


def requests_with(endpoint: str, scenario: str, word: str) -> list[dict[str, Any]]:
    """The audits of the fake model's requests for ``scenario`` whose conversation has a
    user message holding ``word``, oldest first (skips when the model keeps no audit)."""
    found = []
    for item in sorted(
        recorded_requests(endpoint, scenario), key=lambda i: float(i.get("received_at", 0))
    ):
        audit = item.get("audit") or {}
        users = [c for c in audit.get("conversation", []) if c.get("role") == "user"]
        if any(word in str(c.get("text", "")) for c in users):
            found.append(audit)
    return found

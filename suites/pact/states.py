"""Provider states and stream messages, produced through the target's public API only.

Any sidecar can be put in every state the pacts name: a fresh session id (nothing exists),
a running session (the fake model's ``long_running`` scenario), a completed one
(``hello_write``), a failed one (``model_500``), the limit reached (``long_running``
sessions until ``POST`` answers the limit). So no test-only endpoint is needed in the
provider, and the reference is verified exactly as any other sidecar.

:class:`StateServer` is the HTTP state-change endpoint the Pact verifier calls; its JSON
answer carries the values the pacts inject (``${session_id}``, ``${model_endpoint}``).
:meth:`ProviderStates.message` produces a message by reading the target's real SSE stream
of the session the state made.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pact.types import Message

from contract import operation
from suites.clientkit.client import SidecarClient, model_config
from suites.pact.consumer import (
    COMPLETED,
    FAILED,
    LIMIT_REACHED,
    NO_SESSIONS,
    RUNNING,
    message_expectations,
)

SCENARIOS = {RUNNING: "long_running", COMPLETED: "hello_write", FAILED: "model_500"}
SETTLED = {RUNNING: {"running"}, COMPLETED: {"completed"}, FAILED: {"failed"}}
ENDED_STATES = frozenset({COMPLETED, FAILED})
"""States whose session never changes again: one session serves every interaction given it
(a DELETE of an ended session changes nothing), so each is set up once per verification."""
MAX_FILLERS = 100
API_KEY = "sk-pact-provider-states"


class StateError(RuntimeError):
    """The target could not be put in a state (the interaction then fails, naming why)."""


@dataclass
class ProviderStates:
    client: SidecarClient
    model_endpoint: str
    settle_timeout: float = 30.0
    current: str | None = None
    created: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)
    """The session set up for each of ``ENDED_STATES``."""

    def setup(self, state: str) -> dict[str, str]:
        if not state:  # Pact's generic set-up before every interaction
            return {}
        session_id = str(uuid.uuid4())
        self.current = None
        if state in self.ended:
            self.current = session_id = self.ended[state]
        elif state in SCENARIOS:
            self._start(session_id, SCENARIOS[state])
            body = self.client.wait_for_status(
                session_id, SETTLED[state], timeout=self.settle_timeout
            )
            if body.get("status") not in SETTLED[state]:
                raise StateError(f"{state}: the session stayed {body.get('status')!r}")
            self.current = session_id
            if state in ENDED_STATES:
                self.ended[state] = session_id
        elif state == LIMIT_REACHED:
            self._fill()
        elif state != NO_SESSIONS:
            raise StateError(f"unknown provider state {state!r}")
        if session_id not in self.created:
            self.created.append(session_id)
        return {"session_id": session_id, "model_endpoint": self.model_endpoint}

    def teardown(self) -> None:
        for session_id in self.created:
            self.client.cancel(session_id)
        self.created.clear()

    def _start(self, session_id: str, scenario: str) -> None:
        config = model_config(scenario, self.model_endpoint, API_KEY)
        response = self.client.create_session(session_id, f"Play {scenario}.", config)
        if not response.is_success:  # a wrong 2xx is the interaction's to report, not ours
            raise StateError(f"could not start a session: {response.status_code} {response.text}")
        self.created.append(session_id)

    def _fill(self) -> None:
        limit = operation("createSession").status_for("limit_reached")
        for _ in range(MAX_FILLERS):
            session_id = str(uuid.uuid4())
            config = model_config("long_running", self.model_endpoint, API_KEY)
            response = self.client.create_session(session_id, "Fill the pod.", config)
            if response.status_code == limit:
                return
            self.created.append(session_id)
        raise StateError(f"no session limit after {MAX_FILLERS} running sessions")

    def message(self, description: str) -> Message:
        """The first event of the expected type on the current session's real stream."""
        wanted = {m.description: m for m in message_expectations()}.get(description)
        if wanted is None:
            raise StateError(f"no message {description!r} in the pacts")
        if self.current is None:
            raise StateError(f"{description}: no session was set up for it")
        stream = self.client.collect(self.current, read_timeout=self.settle_timeout)
        for event in stream.events:
            if event.event == wanted.event:
                return Message(
                    contents=event.data.encode(),
                    metadata={"event": event.event, "profile": wanted.profile},
                    content_type="application/json",
                )
        seen = sorted({e.event for e in stream.events})
        raise StateError(f"the stream has no {wanted.event} event (it had {', '.join(seen)})")


class StateServer:
    """``POST /_pact/state`` on 127.0.0.1: the verifier's state-change URL."""

    PATH = "/_pact/state"

    def __init__(self, states: ProviderStates) -> None:
        self.states = states
        self.errors: list[str] = []
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.PATH}"

    def __enter__(self) -> StateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def change(self, body: dict[str, Any]) -> dict[str, str]:
        if body.get("action") == "teardown":
            self.states.teardown()
            return {}
        return self.states.setup(str(body.get("state", "")))


def _handler_for(owner: StateServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            # Always 200: the verifier retries a failing state change with back-off for
            # minutes; the interaction fails on its own and the error is reported with it.
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = owner.change(body)
            except (StateError, ValueError, httpx.HTTPError) as exc:
                owner.errors.append(str(exc))
                answer = {"session_id": str(uuid.uuid4()), "model_endpoint": ""}
            status = 200
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler

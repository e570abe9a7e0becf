"""The backend's consumer pacts: each call the backend makes, and each stream event it reads.

``generate(out_dir)`` is the consumer test: it declares the interactions, runs the real
:class:`~suites.clientkit.client.SidecarClient` calls against Pact's mock server (which fails on any
request the backend would not make, or make differently), hands every stream message to
the backend's event reader, and writes the pact file (Pact V4).

HTTP interactions carry provider states; ``${session_id}`` and ``${model_endpoint}`` are
injected by the provider at verification time, so every run uses a fresh session. The
stream is modelled as V4 asynchronous messages, one per event type, because an HTTP
interaction can only describe a finite body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from contract import (
    EVENTS_DIR,
    UUID_PATTERN,
    operation,
    parse_yaml,
    response_header_schemas,
    response_schema,
    stream_rules,
)
from suites.clientkit.client import SidecarClient, session_body
from suites.pact.files import PACT_DIR
from suites.pact.matchers import RFC3339, from_state, matcher_for

EXAMPLES_FILE = Path(__file__).with_name("examples.yaml")
UUID = UUID_PATTERN

NO_SESSIONS = "no session exists"
RUNNING = "a session is running"
COMPLETED = "a session has completed"
FAILED = "a session has failed"
LIMIT_REACHED = "the session limit is reached"
STATES = (NO_SESSIONS, RUNNING, COMPLETED, FAILED, LIMIT_REACHED)


@cache
def examples() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(EXAMPLES_FILE.read_text())
    return data


def pact_file(out_dir: Path = PACT_DIR) -> Path:
    ex = examples()
    return out_dir / f"{ex['consumer']}-{ex['provider']}.json"


@dataclass(frozen=True)
class HttpExpectation:
    """One call of the backend: its state, operation, outcome and the code that makes it."""

    description: str
    state: str | None
    operation_id: str
    outcome: str
    response: str | None
    """Key of ``examples.yaml`` ``responses`` for the body the backend reads."""
    call: Callable[[SidecarClient, str], httpx.Response]
    """The backend's call, given the session id."""
    sends_body: bool = False
    response_headers: tuple[str, ...] = ()
    profile: str = "core"
    """The profile whose clause judges it (``project``: PROJECT-PACT, with the fixture)."""


def _create(client: SidecarClient, session_id: str) -> httpx.Response:
    ex = examples()
    config = {**ex["create_request"]["model_config"], "api_endpoint": ex["model_endpoint"]}
    return client.create_session(session_id, ex["create_request"]["prompt"], config)


def _stream(client: SidecarClient, session_id: str) -> httpx.Response:
    op = operation("streamSession")
    return client.http.request(
        op.method,
        op.url_path(session_id=session_id),
        headers={"Accept": stream_rules().media_type},
    )


HTTP: tuple[HttpExpectation, ...] = (
    HttpExpectation(
        "a request to start a session",
        NO_SESSIONS,
        "createSession",
        "created",
        "created",
        _create,
        sends_body=True,
        response_headers=("Location",),
    ),
    HttpExpectation(
        "a request to start a session whose id is taken",
        RUNNING,
        "createSession",
        "duplicate",
        "error",
        _create,
        sends_body=True,
    ),
    HttpExpectation(
        "a request to start a session beyond the limit",
        LIMIT_REACHED,
        "createSession",
        "limit_reached",
        "error",
        _create,
        sends_body=True,
        response_headers=("Retry-After",),
    ),
    HttpExpectation(
        "a status poll of a running session",
        RUNNING,
        "getSessionStatus",
        "status",
        "status_running",
        lambda c, s: c.status(s),
    ),
    HttpExpectation(
        "a status poll of a completed session",
        COMPLETED,
        "getSessionStatus",
        "status",
        "status_completed",
        lambda c, s: c.status(s),
    ),
    HttpExpectation(
        "a status poll of an unknown session",
        NO_SESSIONS,
        "getSessionStatus",
        "not_found",
        "error",
        lambda c, s: c.status(s),
    ),
    HttpExpectation(
        "a request to cancel a running session",
        RUNNING,
        "cancelSession",
        "cancelled",
        "cancelled",
        lambda c, s: c.cancel(s),
    ),
    HttpExpectation(
        "a request to cancel a completed session",
        COMPLETED,
        "cancelSession",
        "already_finished",
        "error",
        lambda c, s: c.cancel(s),
    ),
    HttpExpectation(
        "a request for the stream of a completed session",
        COMPLETED,
        "streamSession",
        "stream",
        None,
        _stream,
        response_headers=("Content-Type",),
    ),
    HttpExpectation(
        "a request for the diff of a completed session on a project",
        COMPLETED,
        "getSessionDiff",
        "diff",
        None,
        lambda c, s: c.call("getSessionDiff", path={"session_id": s}),
        response_headers=("X-Base-Commit",),
        profile="project",
    ),
    HttpExpectation(
        "a liveness probe", None, "getLiveness", "alive", "liveness", lambda c, s: c.liveness()
    ),
    HttpExpectation(
        "a readiness probe", None, "getReadiness", "ready", "ready", lambda c, s: c.readiness()
    ),
)


@dataclass(frozen=True)
class MessageExpectation:
    """One stream event type the backend reads, and the state whose stream has it."""

    event: str
    state: str
    profile: str = "core"
    """``project``: the event as a sidecar with a project sends it (``project_events``)."""

    @property
    def description(self) -> str:
        if self.profile == "project":
            return f"the session stream's {self.event} event on a project, with its change"
        return f"the session stream's {self.event} event"

    @property
    def example(self) -> dict[str, Any]:
        """The backend's example of this event: the fields it reads."""
        ex = examples()
        found: dict[str, Any] = ex["project_events" if self.profile == "project" else "events"][
            self.event
        ]
        return found


def message_expectations() -> tuple[MessageExpectation, ...]:
    """Every event type the backend reads (all numbered ones: heartbeats it ignores; the
    events of optional profiles' features, which this backend does not use, neither), and
    those it reads a project's change from."""
    rules = stream_rules()
    wanted = sorted(rules.event_types - rules.unnumbered_events - set(rules.optional_events))
    plain = tuple(MessageExpectation(e, FAILED if e == "error" else COMPLETED) for e in wanted)
    project = tuple(
        MessageExpectation(e, COMPLETED, "project") for e in sorted(examples()["project_events"])
    )
    return plain + project


def in_profile(profile: str, expectations: Any) -> list[str]:
    """The descriptions of the expectations a profile's clauses judge."""
    return [e.description for e in expectations if e.profile == profile]


def _session_path(op_id: str) -> Any:
    op = operation(op_id)
    example = op.url_path(session_id=examples()["session_id"])
    template = op.url_path(session_id="${session_id}")
    regex = "^" + re.escape(op.path).replace(re.escape("{session_id}"), UUID[1:-1]) + "$"
    return from_state(template, example, regex) if "{session_id}" in op.path else op.path


def request_body() -> dict[str, Any]:
    ex = examples()
    body = session_body(
        ex["session_id"], ex["create_request"]["prompt"], ex["create_request"]["model_config"]
    )
    body["session_id"] = from_state("${session_id}", ex["session_id"], UUID)
    body["model_config"]["api_endpoint"] = from_state("${model_endpoint}", ex["model_endpoint"])
    return body


def response_header(expectation: HttpExpectation, name: str) -> Any:
    """The contract's header schema with the backend's example; a stream header the contract
    fixes (``stream.yaml``) matches its value, parameters allowed."""
    schema = response_header_schemas(expectation.operation_id, expectation.outcome).get(name)
    if schema is not None:
        return matcher_for(schema, examples()["headers"][name])
    from pact import match

    fixed = stream_rules().response_headers[name]
    return match.regex(fixed, regex=f"^{re.escape(fixed.split(';')[0])}.*$")


def new_pact() -> Any:
    from pact import Pact

    ex = examples()
    return Pact(ex["consumer"], ex["provider"]).with_specification("V4")


def declare_http(pact: Any, e: HttpExpectation) -> None:
    ex = examples()
    op = operation(e.operation_id)
    interaction = pact.upon_receiving(e.description)
    if e.state is not None:
        interaction.given(e.state)
    interaction.with_request(op.method, _session_path(e.operation_id))
    if e.sends_body:
        interaction.with_body(request_body(), "application/json")
    interaction.will_respond_with(op.status_for(e.outcome))
    if e.response is not None:
        schema = response_schema(e.operation_id, e.outcome) or {}
        interaction.with_body(matcher_for(schema, ex["responses"][e.response]), "application/json")
    for name in e.response_headers:
        interaction.with_header(name, response_header(e, name))


def declare_messages(pact: Any) -> None:
    for m in message_expectations():
        schema = json.loads((EVENTS_DIR / f"{m.event}.json").read_text())
        contents = matcher_for(schema, m.example)
        pact.upon_receiving(m.description, "Async").given(m.state).with_body(
            contents, "application/json"
        ).with_metadata({"event": m.event, "profile": m.profile})


# ---------------------------------------------------------------- the backend's event reader
def read_event(event: str, data: Mapping[str, Any], profile: str = "core") -> dict[str, Any]:
    """What the backend's task API takes from one stream event (raises if it cannot)."""
    wanted = MessageExpectation(event, COMPLETED, profile).example
    missing = [k for k in wanted if k not in data]
    if missing:
        raise KeyError(f"{event} event without {', '.join(missing)}")
    if not re.match(RFC3339, str(data["timestamp"])):
        raise ValueError(f"{event} timestamp {data['timestamp']!r} is not RFC 3339")
    return {k: data[k] for k in wanted}


def generate(out_dir: Path = PACT_DIR) -> Path:
    """Run the consumer side: each call against its own mock server, every message through
    the reader; write the pact file. Raises ``AssertionError`` naming any mismatch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = pact_file(out_dir)
    target.unlink(missing_ok=True)
    session_id = examples()["session_id"]
    for e in HTTP:
        pact = new_pact()
        declare_http(pact, e)
        with pact.serve() as server, SidecarClient(str(server.url)) as client:
            response = e.call(client, session_id)
            expected = operation(e.operation_id).status_for(e.outcome)
            assert response.status_code == expected, (e.description, response.text)
            assert server.matched, f"{e.description}: {server.mismatches}"
        pact.write_file(out_dir, overwrite=False)

    def handle(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        assert body is not None
        read_event(str(metadata["event"]), json.loads(body), str(metadata["profile"]))

    pact = new_pact()
    declare_messages(pact)
    failures = pact.verify(handle, "Async", raises=False)
    assert not failures, f"the backend cannot read these messages: {failures}"
    pact.write_file(out_dir, overwrite=False)
    return target

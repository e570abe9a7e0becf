"""The pact never demands more than the contract: every interaction of the committed pact
verifies (Pact's own verifier) against a *minimal* contract-valid answer, one that carries
only the fields the schema requires, with the least values it allows, for every
alternative a ``oneOf`` offers (a tool result that is a success, and one that is the
error): each message against a minimal event, each HTTP interaction against a stub
provider answering the contract's status with a minimal body and headers."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from contract import (
    EVENTS_DIR,
    operation,
    resolved_component,
    response_header_schemas,
    response_schema,
    stream_rules,
    validate_event,
)
from suites.pact.consumer import (
    HTTP,
    PACT_DIR,
    HttpExpectation,
    MessageExpectation,
    examples,
    message_expectations,
)

TS = "2026-11-25T10:00:00Z"


def minimal_instances(schema: dict[str, Any]) -> Iterator[Any]:
    """The least instances of ``schema``: one per choice among its alternatives."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            for alternative in schema[key]:
                yield from minimal_instances({**rest, **alternative})
            return
    if "const" in schema:
        yield schema["const"]
        return
    if "enum" in schema:
        yield schema["enum"][0]
        return
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        choices = [list(minimal_instances(props.get(name, {}))) for name in required]
        for values in itertools.product(*choices):
            yield dict(zip(required, values, strict=True))
    elif kind == "array":
        yield []
    elif kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            yield TS
        elif fmt == "uuid":
            yield "00000000-0000-4000-8000-000000000000"
        else:
            least = "x" * max(1, int(schema.get("minLength", 0)))
            candidates = (least, "0" * 40)  # a pattern's least match: a commit id's
            pattern = schema.get("pattern")
            yield next((c for c in candidates if pattern is None or re.search(pattern, c)), least)
    elif kind in ("integer", "number"):
        yield schema.get("minimum", 0)
    elif kind == "boolean":
        yield False
    else:
        yield None


def _schema(expectation: MessageExpectation) -> dict[str, Any]:
    """The event's schema; on a project (STREAM_RULES.md#project) its terminal event carries
    ``change`` (ChangeSummary), which the event schema alone leaves optional."""
    schema: dict[str, Any] = json.loads((EVENTS_DIR / f"{expectation.event}.json").read_text())
    if expectation.profile == "project":
        schema["properties"]["change"] = resolved_component("ChangeSummary")
        schema["required"] = [*schema["required"], "change"]
    return schema


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for expectation in message_expectations():
        for n, instance in enumerate(minimal_instances(_schema(expectation))):
            name = f"{expectation.event}-{expectation.profile}-{n}"
            cases.append((name, expectation.description, instance))
    return cases


CASES = _cases()


def test_the_minimal_events_are_valid_and_minimal() -> None:
    for _, description, instance in CASES:
        event = next(m.event for m in message_expectations() if m.description == description)
        assert validate_event(event, instance) == [], (event, instance)
    tool_results = [i for _, d, i in CASES if "tool_result" in d]
    assert {"output"} in [set(r["result"]) for r in tool_results]
    assert {"error"} in [set(r["result"]) for r in tool_results]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(("case", "description", "instance"), CASES, ids=[c[0] for c in CASES])
def test_every_message_of_the_pact_is_satisfied_by_a_minimal_event(
    case: str, description: str, instance: dict[str, Any]
) -> None:
    from pact import Verifier
    from pact.types import Message

    expectation = next(m for m in message_expectations() if m.description == description)

    def produce(name: str, metadata: Any) -> Message:
        return Message(
            contents=json.dumps(instance).encode(),
            metadata={"event": expectation.event, "profile": expectation.profile},
            content_type="application/json",
        )

    verifier = (
        Verifier(examples()["provider"])
        .add_source(PACT_DIR)
        .filter(f"^{re.escape(description)}$")
        .message_handler(produce)
        .set_coloured_output(enabled=False)
    )
    with contextlib.suppress(RuntimeError):
        verifier.verify()
    results = verifier.results.get("interactionResults", [])
    assert [r.get("description") for r in results] == [description]
    assert results[0].get("result") == "OK", (instance, results[0].get("mismatch"))


# ---------------------------------------------------------------- HTTP interactions
class _MinimalProvider(BaseHTTPRequestHandler):
    """Answers every request with the minimal contract-valid response of ``current``."""

    current: HttpExpectation | None = None

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        e = type(self).current
        assert e is not None
        op = operation(e.operation_id)
        self.send_response(op.status_for(e.outcome))
        headers = response_header_schemas(e.operation_id, e.outcome)
        for name in e.response_headers:
            if name in headers:
                value = next(minimal_instances(headers[name]))
                self.send_header(
                    name, str(value).lower() if isinstance(value, bool) else str(value)
                )
        body = b""
        if e.response is not None:
            schema = response_schema(e.operation_id, e.outcome) or {}
            body = json.dumps(next(minimal_instances(schema))).encode()
            self.send_header("Content-Type", "application/json")
        elif "Content-Type" in e.response_headers:
            self.send_header("Content-Type", stream_rules().response_headers["Content-Type"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def minimal_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MinimalProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("expectation", HTTP, ids=[e.description for e in HTTP])
def test_every_http_interaction_is_satisfied_by_a_minimal_response(
    expectation: HttpExpectation, minimal_provider: str
) -> None:
    from pact import Verifier

    _MinimalProvider.current = expectation
    verifier = (
        Verifier(examples()["provider"], host="127.0.0.1")
        .add_transport(url=minimal_provider)
        .add_source(PACT_DIR)
        .filter(f"^{re.escape(expectation.description)}$")
        .set_coloured_output(enabled=False)
    )
    with contextlib.suppress(RuntimeError):
        verifier.verify()
    results = verifier.results.get("interactionResults", [])
    assert [r.get("description") for r in results] == [expectation.description]
    assert results[0].get("result") == "OK", results[0].get("mismatch")

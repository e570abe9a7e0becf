"""The pact never demands more than the contract: every message interaction of the
committed pact verifies (Pact's own verifier) against a *minimal* contract-valid event, one
that carries only the fields the event's schema requires, with the least values it allows,
for every alternative a ``oneOf`` offers (a tool result that is a success, and one that is
the error)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from contract import EVENTS_DIR, validate_event
from suites.pact.consumer import PACT_DIR, examples, message_expectations

TS = "2026-11-25T10:00:00Z"


def minimal_instances(schema: dict[str, Any]) -> Iterator[Any]:
    """The least instances of ``schema``: one per choice among its alternatives."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            for alternative in schema[key]:
                yield from minimal_instances({**rest, **alternative})
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
        yield TS if fmt == "date-time" else "x" * max(1, int(schema.get("minLength", 0)))
    elif kind in ("integer", "number"):
        yield schema.get("minimum", 0)
    elif kind == "boolean":
        yield False
    else:
        yield None


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for expectation in message_expectations():
        schema = json.loads((EVENTS_DIR / f"{expectation.event}.json").read_text())
        for n, instance in enumerate(minimal_instances(schema)):
            cases.append((f"{expectation.event}-{n}", expectation.description, instance))
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

    def produce(name: str, metadata: Any) -> Message:
        return Message(
            contents=json.dumps(instance).encode(),
            metadata={"event": description.rsplit(" ", 2)[-2]},
            content_type="application/json",
        )

    verifier = (
        Verifier(examples()["provider"])
        .add_source(PACT_DIR)
        .filter(description)
        .message_handler(produce)
        .set_coloured_output(enabled=False)
    )
    with contextlib.suppress(RuntimeError):
        verifier.verify()
    results = verifier.results.get("interactionResults", [])
    assert [r.get("description") for r in results] == [description]
    assert results[0].get("result") == "OK", (instance, results[0].get("mismatch"))

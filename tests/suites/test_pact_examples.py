"""Every example the committed pact carries is *valid* against the contract, not only
satisfiable by type: each message's content against its event schema, each request body
and each response body against its operation's schema. (The pact once carried a
tool_result whose result was ``{}``, which no sidecar may send: events/tool_result.json
demands output or error; Pact's type matching let it through.) A response body holds the
fields the backend reads (suites/pact/examples.yaml), so only its top level may omit
required fields; every value it gives is checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contract import operation, response_schema, validate_component, validate_event
from suites.pact.consumer import HTTP, HttpExpectation, pact_file
from suites.pact.files import PACT_DIR


def _interactions() -> list[dict[str, Any]]:
    interactions: list[dict[str, Any]] = json.loads(pact_file(PACT_DIR).read_text())["interactions"]
    return interactions


def _body(part: dict[str, Any]) -> Any:
    body = part.get("body") or part.get("contents") or {}
    content = body.get("content")
    return json.loads(content) if isinstance(content, str) else content


MESSAGES = [i for i in _interactions() if i["type"] == "Asynchronous/Messages"]
HTTP_INTERACTIONS = [i for i in _interactions() if i["type"] == "Synchronous/HTTP"]
BY_DESCRIPTION: dict[str, HttpExpectation] = {e.description: e for e in HTTP}


def test_the_pact_has_messages_and_http_interactions() -> None:
    assert MESSAGES and HTTP_INTERACTIONS
    assert {i["description"] for i in HTTP_INTERACTIONS} == set(BY_DESCRIPTION)


@pytest.mark.parametrize("interaction", MESSAGES, ids=[i["description"] for i in MESSAGES])
def test_every_message_example_is_a_valid_event(interaction: dict[str, Any]) -> None:
    event = interaction["metadata"]["event"]
    content = interaction["contents"]["content"]
    assert validate_event(event, content) == [], (event, content)


@pytest.mark.parametrize(
    "interaction", HTTP_INTERACTIONS, ids=[i["description"] for i in HTTP_INTERACTIONS]
)
def test_every_http_example_is_valid_against_its_operation(interaction: dict[str, Any]) -> None:
    expectation = BY_DESCRIPTION[interaction["description"]]
    request = _body(interaction["request"])
    if request:
        assert validate_component("CreateSessionRequest", request) == [], request
    response = interaction["response"]
    assert response["status"] == operation(expectation.operation_id).status_for(expectation.outcome)
    body = _body(response)
    schema = response_schema(expectation.operation_id, expectation.outcome)
    if body is not None and schema is not None:
        # the backend reads a subset of the body (examples.yaml): every field it gives is
        # valid, nested objects whole; only the top level's `required` is not demanded
        read = {k: v for k, v in schema.items() if k != "required"}
        errors = [e.message for e in Draft202012Validator(read).iter_errors(body)]
        assert errors == [], (interaction["description"], body)

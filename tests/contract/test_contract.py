"""The contract is well-formed, complete against the seed, and internally consistent."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate as validate_spec

import contract
from contract import Level, load_catalogue, load_openapi, stream_rules

# What the seed (../shared/seed/opencode-server-todo.md, Phase 1.2) names. This test is the
# one place these are written by hand: it checks the contract against the seed.
SEED_ENDPOINTS = {
    ("GET", "/healthz"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/sessions"),
    ("GET", "/sessions/{session_id}/stream"),
    ("DELETE", "/sessions/{session_id}"),
    ("GET", "/sessions/{session_id}/status"),
}
SEED_STATUS_CODES = {200, 201, 400, 404, 409, 503}
CONVERSATION_EVENT_TYPES = {"permission_request", "permission_resolved"}
"""Emitted only in sessions created with ``permissions`` (profile permissions, issue 34)."""
SEED_EVENT_TYPES = {
    "output",
    "tool_call",
    "tool_result",
    "status",
    "error",
    "complete",
    "heartbeat",
}
TS = "2026-01-19T21:30:00Z"


def test_openapi_document_is_valid_openapi_3_1() -> None:
    validate_spec(load_openapi(), base_uri=contract.OPENAPI_PATH.as_uri())
    assert load_openapi()["openapi"].startswith("3.1")


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(str(contract.OPENAPI_PATH))
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert {f"{m} {p}" for m, p in SEED_ENDPOINTS} <= labels


def test_every_seed_endpoint_status_code_and_event_type_is_in_the_contract() -> None:
    ops = contract.operations()
    assert {(o.method, o.path) for o in ops.values()} >= SEED_ENDPOINTS
    codes = {code for o in ops.values() for code in o.outcomes.values()}
    assert codes >= SEED_STATUS_CODES
    assert stream_rules().event_types == SEED_EVENT_TYPES | CONVERSATION_EVENT_TYPES


def test_port_3003_is_the_documented_server() -> None:
    assert any(":3003" in s["url"] for s in load_openapi()["servers"])


def _examples(node: Any, pointer: str = "#") -> list[tuple[str, dict[str, Any], Any]]:
    """(pointer, media-type object, example) for every media type with an example."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        if "schema" in node and "example" in node:
            found.append((pointer, node, node["example"]))
        for key, value in node.items():
            found.extend(_examples(value, f"{pointer}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_examples(value, f"{pointer}/{i}"))
    return found


def test_every_example_validates_against_its_schema() -> None:
    examples = _examples(load_openapi())
    assert len(examples) >= 10
    for pointer, media, example in examples:
        ref = media["schema"].get("$ref", "")
        if not ref.startswith("#/components/schemas/"):
            continue
        name = ref.rsplit("/", 1)[1]
        assert contract.validate_component(name, example) == [], pointer


def test_each_response_names_an_outcome_unique_within_its_operation() -> None:
    doc = load_openapi()
    for op in contract.operations().values():
        responses = doc["paths"][op.path][op.method.lower()]["responses"]
        extra = sum(len(r.get("x-also-outcomes", ())) for r in responses.values())
        assert len(set(op.outcomes.values())) == len(op.outcomes) - extra, op.operation_id
    assert contract.status_for("createSession", "conversation_running") == 409
    assert contract.status_for("answerPermission", "unknown_request") == 404


def test_probes_are_public_and_session_routes_are_not() -> None:
    ops = contract.operations()
    assert ops["getLiveness"].public and ops["getReadiness"].public and ops["getHealth"].public
    assert not ops["createSession"].public and not ops["streamSession"].public


def test_api_key_is_write_only() -> None:
    model_config = load_openapi()["components"]["schemas"]["ModelConfig"]
    assert model_config["properties"]["api_key"]["writeOnly"] is True


class TestCatalogue:
    def test_has_at_least_30_unique_clauses_with_level_and_source(self) -> None:
        catalogue = load_catalogue()
        ids = [c.id for c in catalogue]
        assert len(ids) >= 30
        assert len(ids) == len(set(ids))
        for clause in catalogue:
            assert clause.level in Level
            assert clause.source and clause.title and clause.requirement

    def test_glob_selection(self) -> None:
        assert {c.id for c in load_catalogue().matching("SSE-RESUME*")} >= {
            "SSE-RESUME",
            "SSE-RESUME-MALFORMED",
        }

    def test_unknown_id_raises(self) -> None:
        with pytest.raises(contract.UnknownClauseError):
            load_catalogue()["NOPE-1"]

    def test_stream_rules_document_and_catalogue_name_the_same_stream_clauses(self) -> None:
        text = contract.STREAM_RULES_DOC.read_text()
        cited = set(re.findall(r"\[([A-Z][A-Z0-9-]+)\]", text))
        catalogue = load_catalogue()
        assert cited <= {c.id for c in catalogue}, cited - {c.id for c in catalogue}
        documented = {c.id for c in catalogue if c.doc and c.doc.startswith("STREAM_RULES")}
        assert documented <= cited, documented - cited

    def test_doc_anchors_exist(self) -> None:
        headings = {
            re.sub(r"[^a-z0-9 -]", "", line.lstrip("# ").lower()).replace(" ", "-")
            for line in contract.STREAM_RULES_DOC.read_text().splitlines()
            if line.startswith("## ")
        }
        for clause in load_catalogue():
            if clause.doc:
                assert clause.doc.split("#", 1)[1] in headings, clause.id


VALID_EVENTS: dict[str, dict[str, Any]] = {
    "status": {"status": "running", "progress": 10, "timestamp": TS},
    "output": {"type": "stdout", "text": "hi", "timestamp": TS},
    "tool_call": {"tool": "bash", "args": {"command": "ls"}, "call_id": "c1", "timestamp": TS},
    "tool_result": {"tool": "bash", "result": {"output": ""}, "call_id": "c1", "timestamp": TS},
    "error": {"error": "boom", "fatal": True, "timestamp": TS},
    "complete": {"final_message": "done", "files_modified": ["a.txt"], "timestamp": TS},
    "heartbeat": {},
}


class TestEventSchemas:
    @pytest.mark.parametrize("event_type", sorted(VALID_EVENTS))
    def test_accepts_valid_and_extra_fields(self, event_type: str) -> None:
        data = {**VALID_EVENTS[event_type], "x_vendor_field": [1, 2]}
        assert contract.validate_event(event_type, data) == []

    @pytest.mark.parametrize("event_type", sorted(set(VALID_EVENTS) - {"heartbeat"}))
    def test_rejects_missing_timestamp(self, event_type: str) -> None:
        data = dict(VALID_EVENTS[event_type])
        del data["timestamp"]
        assert [v.field for v in contract.validate_event(event_type, data)] == ["timestamp"]

    @pytest.mark.parametrize("event_type", sorted(set(VALID_EVENTS) - {"heartbeat"}))
    def test_rejects_a_timestamp_that_is_not_rfc3339(self, event_type: str) -> None:
        data = {**VALID_EVENTS[event_type], "timestamp": "19/01/2026 21:30"}
        assert contract.validate_event(event_type, data) != []

    @pytest.mark.parametrize(
        ("event_type", "field", "bad"),
        [
            ("status", "status", "paused"),
            ("status", "progress", 101),
            ("status", "progress", "50"),
            ("output", "type", "stdlog"),
            ("output", "text", 7),
            ("tool_call", "args", "ls"),
            ("tool_call", "call_id", ""),
            ("tool_result", "result", None),
            ("error", "fatal", "yes"),
            ("complete", "files_modified", "a.txt"),
        ],
    )
    def test_rejects_wrong_values(self, event_type: str, field: str, bad: Any) -> None:
        data = {**VALID_EVENTS[event_type], field: bad}
        assert [v.field for v in contract.validate_event(event_type, data)] == [field]

    def test_unknown_type_and_non_json_data(self) -> None:
        assert contract.validate_event("progress", {})[0].field == "event"
        assert contract.validate_event("status", "{not json")[0].field == "data"


class TestStreamRules:
    def test_terminal_events(self) -> None:
        rules = stream_rules()
        assert rules.session_status_after("complete", VALID_EVENTS["complete"]) == "completed"
        assert rules.session_status_after("error", {"fatal": True}) == "failed"
        assert not rules.is_terminal("error", {"fatal": False})
        assert rules.session_status_after("status", {"status": "cancelled"}) == "cancelled"
        assert not rules.is_terminal("status", {"status": "running"})
        assert not rules.is_terminal("output", VALID_EVENTS["output"])

    def test_cancel_and_timeout_events_are_terminal_and_valid(self) -> None:
        rules = stream_rules()
        assert rules.is_terminal(rules.cancel_event, rules.cancel_data)
        assert rules.is_terminal(rules.timeout_event, rules.timeout_data)

    def test_heartbeat_is_unnumbered_and_valid(self) -> None:
        rules = stream_rules()
        assert rules.heartbeat_event in rules.unnumbered_events
        assert contract.validate_event(rules.heartbeat_event, dict(rules.heartbeat_data)) == []

    def test_first_event_and_ids(self) -> None:
        rules = stream_rules()
        assert rules.first_event in rules.event_types
        assert rules.id_pattern.match("1") and not rules.id_pattern.match("0")
        assert not rules.id_pattern.match("01")


class TestRequestSchema:
    def test_violation_names_the_field(self) -> None:
        body = {
            "session_id": "3f0c9b8e-5a51-4a8e-9b57-1c2d3e4f5a6b",
            "prompt": "x",
            "model_config": {"provider": "openai", "model": "m", "api_key": "k"},
        }
        assert contract.validate_component("CreateSessionRequest", body) == []
        body["model_config"] = {**body["model_config"], "enabled_tools": ["read", "rm"]}  # type: ignore[dict-item]
        [violation] = contract.validate_component("CreateSessionRequest", body)
        assert violation.field == "model_config.enabled_tools.1"

    def test_status_for_unknown_outcome_raises(self) -> None:
        with pytest.raises(KeyError, match="createSession has no outcome"):
            contract.status_for("createSession", "teapot")


def test_optional_events_are_events_of_optional_profiles() -> None:
    rules = stream_rules()
    assert set(rules.optional_events) == CONVERSATION_EVENT_TYPES
    assert set(rules.optional_events) <= rules.event_types
    profiles = contract.load_profiles()
    assert set(rules.optional_events.values()) <= set(profiles.names) - {profiles.base}

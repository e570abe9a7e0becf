"""asyncapi.yaml is a valid AsyncAPI 3.0.0 document (checked against the official JSON
Schema, vendored from npm ``@asyncapi/specs``) whose payloads reference ``events/*.json``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft7Validator

import contract
from contract import load_asyncapi, stream_rules, validate_ws_frame

TS = "2026-01-19T21:30:00Z"


def asyncapi_validator() -> Draft7Validator:
    schema = json.loads(contract.ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def test_the_vendored_schema_is_the_official_one_with_its_license() -> None:
    schema = json.loads(contract.ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    vendor = contract.ASYNCAPI_SCHEMA_PATH.parent
    assert "Apache License" in (vendor / "LICENSE").read_text(encoding="utf-8")
    assert (vendor / "NOTICE").is_file()


def test_asyncapi_document_is_valid_asyncapi_3_0() -> None:
    doc = load_asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    errors = sorted(asyncapi_validator().iter_errors(doc), key=lambda e: e.json_path)
    assert errors == [], [f"{e.json_path}: {e.message[:200]}" for e in errors[:5]]


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        (("operations", "sendStreamEvents", "action"), "publish"),
        (("channels", "sessionStream", "address"), 42),
        (("info",), None),
    ],
)
def test_the_validator_rejects_a_broken_document(pointer: tuple[str, ...], value: Any) -> None:
    doc = copy.deepcopy(load_asyncapi())
    node = doc
    for key in pointer[:-1]:
        node = node[key]
    if value is None:
        del node[pointer[-1]]
    else:
        node[pointer[-1]] = value
    assert not asyncapi_validator().is_valid(doc)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_both_channels_carry_every_event_type_by_reference() -> None:
    doc = load_asyncapi()
    messages = doc["components"]["messages"]
    types = stream_rules().event_types
    for channel in ("sessionStream", "sessionWebSocket"):
        names = set(doc["channels"][channel]["messages"])
        assert types <= names, channel
        for name in types:
            ref = doc["channels"][channel]["messages"][name]["$ref"]
            message = messages[ref.rsplit("/", 1)[1]]
            assert message["name"] == name
            # the payload references the event's schema file; no copy of its properties
            assert f"events/{name}.json" in _refs(message["payload"])
            assert "required" not in json.dumps(message["payload"]).replace('"$ref"', "")
    external = {r for r in _refs(doc) if not r.startswith("#")}
    assert external == {f"events/{t}.json" for t in types}
    assert all((contract.CONTRACT_DIR / r).is_file() for r in external)


def test_the_frame_schema_names_the_fields_stream_yaml_names() -> None:
    ws = stream_rules().websocket
    frame = load_asyncapi()["components"]["schemas"]["WebSocketFrame"]
    assert set(frame["properties"]) == {ws.event_field, ws.id_field, ws.data_field}
    resume = load_asyncapi()["components"]["schemas"]["ResumeAfter"]
    assert resume["required"] == [ws.resume_field]


def test_frames_validate_against_the_contract() -> None:
    ws = stream_rules().websocket
    status = {"status": "running", "progress": 0, "timestamp": TS}
    assert validate_ws_frame(ws.frame("status", status, 1)) == []
    assert validate_ws_frame(ws.frame("heartbeat", {}, None)) == []
    assert validate_ws_frame(ws.frame("heartbeat", {}, 3)) != []
    assert validate_ws_frame(ws.frame("status", status, None)) != []
    assert validate_ws_frame({**ws.frame("status", status, 1), ws.id_field: "1"}) != []
    problems = validate_ws_frame(ws.frame("status", {"progress": 0}, 1))
    assert problems[0].field == f"{ws.data_field}.status"
    assert validate_ws_frame(ws.frame("stdout", {}, 2))[0].field == ws.event_field
    assert validate_ws_frame("not an object") != []

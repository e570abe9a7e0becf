"""JSON Schema validation against the contract's own schemas (loaded, never restated)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from contract._files import (
    ASYNCAPI_PATH,
    EVENTS_DIR,
    OPENAPI_PATH,
    load_asyncapi,
    load_data,
    load_openapi,
)
from contract._stream import stream_rules

_OPENAPI_URI = OPENAPI_PATH.as_uri()
_ASYNCAPI_URI = ASYNCAPI_PATH.as_uri()
_FORMATS = FormatChecker()


@dataclass(frozen=True)
class Violation:
    """One way an instance breaks a schema."""

    field: str
    """Dotted path of the offending field (``model_config.temperature``); ``""`` = the root."""
    reason: str

    def __str__(self) -> str:
        return f"{self.field or '<root>'}: {self.reason}"


@cache
def _registry() -> Registry[Any]:
    resources = [
        (_OPENAPI_URI, DRAFT202012.create_resource(load_openapi())),
        (_ASYNCAPI_URI, DRAFT202012.create_resource(load_asyncapi())),
    ]
    for path in sorted(EVENTS_DIR.glob("*.json")):
        resources.append((path.as_uri(), DRAFT202012.create_resource(load_data(path))))
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry


@cache
def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=_FORMATS)


def component_validator(name: str) -> Draft202012Validator:
    """Validator of ``#/components/schemas/<name>`` with every ``$ref`` resolved."""
    if name not in load_openapi()["components"]["schemas"]:
        raise KeyError(f"openapi.yaml has no components.schemas.{name}")
    return _validator(f"{_OPENAPI_URI}#/components/schemas/{name}")


def event_validator(event_type: str) -> Draft202012Validator:
    """Validator of the data of one event type (``events/<type>.json``)."""
    path = EVENTS_DIR / f"{event_type}.json"
    if not path.is_file():
        raise KeyError(f"contract has no event type {event_type!r}")
    return _validator(path.as_uri())


def event_fields(event_type: str) -> frozenset[str]:
    """The data fields ``events/<type>.json`` names (a sidecar may add its own)."""
    path = EVENTS_DIR / f"{event_type}.json"
    if not path.is_file():
        raise KeyError(f"contract has no event type {event_type!r}")
    return frozenset(load_data(path).get("properties", {}))


def _field_of(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    required: Any = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [p for p in required if p not in error.instance]
        # one error per missing property; its message starts with that property's repr
        named = [p for p in missing if error.message.startswith(repr(p))]
        if named or missing:
            parts.append(str((named or missing)[0]))
    return ".".join(parts)


def violations(validator: Draft202012Validator, instance: Any) -> list[Violation]:
    """All violations, the most specific first (empty list = valid)."""
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (-len(e.absolute_path), e.message)
    )
    return [Violation(_field_of(e), e.message) for e in errors]


def validate_component(name: str, instance: Any) -> list[Violation]:
    """Validate ``instance`` against ``#/components/schemas/<name>``."""
    return violations(component_validator(name), instance)


def validate_event(event_type: str, data: str | Mapping[str, Any]) -> list[Violation]:
    """Validate one event: its type is known and its data (JSON text or parsed) fits its schema."""
    if not (EVENTS_DIR / f"{event_type}.json").is_file():
        return [Violation("event", f"unknown event type {event_type!r}")]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            return [Violation("data", f"not JSON: {exc}")]
    return violations(event_validator(event_type), data)


def ws_frame_validator() -> Draft202012Validator:
    """Validator of one WebSocket frame's envelope (``asyncapi.yaml``'s ``WebSocketFrame``)."""
    return _validator(f"{_ASYNCAPI_URI}#/components/schemas/WebSocketFrame")


def validate_ws_frame(frame: Any) -> list[Violation]:
    """Validate one parsed WebSocket frame: its envelope, then its data against its event."""
    problems = violations(ws_frame_validator(), frame)
    if problems:
        return problems
    ws = stream_rules().websocket
    return [
        Violation(f"{ws.data_field}.{p.field}" if p.field else ws.data_field, p.reason)
        if p.field != "event"
        else p
        for p in validate_event(frame[ws.event_field], frame[ws.data_field])
    ]

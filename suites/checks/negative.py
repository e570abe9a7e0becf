"""Invalid variants of a valid instance, derived from the contract's schema (not restated).

Each variant breaks exactly one keyword of one property, and names the dotted field path a
sidecar's 400 should name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from contract import resolved_component


@dataclass(frozen=True)
class InvalidVariant:
    field: str
    keyword: str
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.field}:{self.keyword}"


def _set(instance: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(instance)
    node = result
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return result


def _delete(instance: dict[str, Any], path: list[str]) -> dict[str, Any]:
    result = copy.deepcopy(instance)
    node = result
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return result


def _wrong_type(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    return 12345 if kind in ("string", "array", "object", "boolean") else "not-a-number"


def _breakers(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(keyword, value) pairs that each violate one keyword of ``schema``."""
    if "type" in schema:
        yield "type", _wrong_type(schema)
    if "enum" in schema:
        yield "enum", f"not-{schema['enum'][0]}"
    if "minimum" in schema:
        yield "minimum", schema["minimum"] - 1
    if "maximum" in schema:
        yield "maximum", schema["maximum"] + 1
    if schema.get("minLength", 0) >= 1:
        yield "minLength", ""
    if "maxLength" in schema and schema["maxLength"] <= 100_000:
        yield "maxLength", "x" * (schema["maxLength"] + 1)
    if schema.get("format") == "uuid":
        yield "format", "not-a-uuid"
    if "pattern" in schema and schema.get("format") == "uri":
        yield "pattern", "ftp://example.invalid/"
    items = schema.get("items")
    if isinstance(items, dict) and "enum" in items:
        yield "items.enum", [f"not-{items['enum'][0]}"]
    if schema.get("uniqueItems") and isinstance(items, dict) and "enum" in items:
        yield "uniqueItems", [items["enum"][0], items["enum"][0]]


def invalid_variants(component: str, valid: dict[str, Any]) -> list[InvalidVariant]:
    """One variant per (property, keyword) of ``component`` that ``valid`` exercises."""
    variants: list[InvalidVariant] = []

    def walk(schema: dict[str, Any], path: list[str], instance: Any) -> None:
        for name in schema.get("required", []):
            variants.append(
                InvalidVariant(".".join([*path, name]), "required", _delete(valid, [*path, name]))
            )
        for name, prop in schema.get("properties", {}).items():
            if not isinstance(instance, dict) or name not in instance:
                continue
            here = [*path, name]
            for keyword, value in _breakers(prop):
                variants.append(InvalidVariant(".".join(here), keyword, _set(valid, here, value)))
            if prop.get("type") == "object":
                walk(prop, here, instance[name])

    walk(resolved_component(component), [], valid)
    return variants

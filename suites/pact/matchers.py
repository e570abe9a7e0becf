"""Pact matchers derived from the contract's JSON Schemas and the backend's examples.

The example says *which* fields the backend reads (and their example values); the schema
says how each may vary: an enum becomes a regex of its values, ``date-time`` an RFC 3339
regex, ``uuid`` the uuid matcher, other scalars match by type. An object the schema leaves
free (no ``properties``: ``tool_call.args``) is matched only as an object; one that is one
of several shapes (``oneOf``/``anyOf``: ``tool_result.result``, a success or an error)
carries the backend's example but is matched by the type of each value, with no key
demanded: Pact cannot express alternatives, and demanding the example's keys would demand
more than the contract (tests/suites/test_pact_satisfiable.py proves it does not).
"""

from __future__ import annotations

import re
from typing import Any

from pact import match
from pact.match.matcher import AbstractMatcher

from contract import resolved_component

RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"


def matcher_for(schema: dict[str, Any], example: Any) -> Any:
    """A matcher (or a structure of matchers) for ``example`` under ``schema``."""
    if "$ref" in schema and "#/components/schemas/" in schema["$ref"]:
        schema = resolved_component(schema["$ref"].rsplit("/", 1)[-1])
    if "enum" in schema:
        alternatives = "|".join(re.escape(str(v)) for v in schema["enum"])
        return match.regex(example, regex=f"^({alternatives})$")
    if "const" in schema:
        return example
    if ("oneOf" in schema or "anyOf" in schema) and isinstance(example, dict):
        # Every value by type, no key demanded: the example (valid against the schema,
        # tests/suites/test_pact_examples.py) is written, and either alternative matches.
        return match.each_value_matches(example, rules=match.like(next(iter(example.values()))))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None) if example is not None else "null"
    if kind == "object" and "properties" in schema and isinstance(example, dict):
        props = schema["properties"]
        return {k: matcher_for(props.get(k, {}), v) for k, v in example.items()}
    if kind == "object":
        return match.like({})
    if kind == "array":
        return match.like(example)
    if kind == "string":
        if schema.get("format") == "date-time":
            return match.regex(example, regex=RFC3339)
        if schema.get("format") == "uuid":
            return match.uuid(example)
        return match.str(example)
    if kind == "integer":
        return match.int(example)
    if kind == "number":
        return match.number(example)
    if kind == "boolean":
        return match.bool(example)
    return example


def from_state(expression: str, example: str, regex: str = r"^.+$") -> AbstractMatcher[Any]:
    """A value the provider state injects at verification time (``${name}`` expressions)."""
    from pact import generate
    from pact.match.matcher import GenericMatcher

    return GenericMatcher(
        "regex", example, regex=regex, generator=generate.provider_state(expression)
    )

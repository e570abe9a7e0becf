"""Operations of the OpenAPI document, and the status code of each named outcome."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from contract._files import load_openapi

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""The text form of JSON Schema's ``uuid`` format (RFC 9562), which the contract's
``SessionId`` parameter and ``session_id`` fields use."""


@dataclass(frozen=True)
class Operation:
    """One operation: how to call it and which status each outcome has."""

    operation_id: str
    method: str
    """Upper-case HTTP method."""
    path: str
    """Path template, e.g. ``/sessions/{session_id}/status``."""
    outcomes: dict[str, int]
    """``x-outcome`` name -> status code."""
    public: bool
    """True when the operation needs no credentials (``security: []``)."""

    def status_for(self, outcome: str) -> int:
        try:
            return self.outcomes[outcome]
        except KeyError:
            raise KeyError(f"{self.operation_id} has no outcome {outcome!r}") from None

    def url_path(self, **params: str) -> str:
        return self.path.format(**params)

    def url_path_with(self, value: str) -> str:
        """The path with every parameter (a session id, a request id, ...) set to ``value``:
        for checks that walk every operation and only need each route to be reached."""
        return re.sub(r"\{[^}]+\}", value, self.path)


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return _resolve(doc, target)


@cache
def operations() -> dict[str, Operation]:
    """Every operation of the contract, by ``operationId``."""
    doc = load_openapi()
    result: dict[str, Operation] = {}
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            outcomes: dict[str, int] = {}
            for code, response in op["responses"].items():
                resolved = _resolve(doc, response)
                outcome = resolved.get("x-outcome")
                if outcome is None:
                    raise ValueError(f"{op['operationId']} response {code} has no x-outcome")
                # a status may answer more than one reason (x-also-outcomes): each its name
                for name in (outcome, *resolved.get("x-also-outcomes", ())):
                    outcomes[name] = int(code)
            result[op["operationId"]] = Operation(
                operation_id=op["operationId"],
                method=method.upper(),
                path=path,
                outcomes=outcomes,
                public=op.get("security", doc.get("security")) == [],
            )
    return result


def operation(operation_id: str) -> Operation:
    """The operation named ``operation_id``."""
    try:
        return operations()[operation_id]
    except KeyError:
        raise KeyError(f"openapi.yaml has no operation {operation_id!r}") from None


def status_for(operation_id: str, outcome: str) -> int:
    """The status code the contract assigns to ``outcome`` of ``operation_id``."""
    return operation(operation_id).status_for(outcome)


def resolved_component(name: str) -> dict[str, Any]:
    """``#/components/schemas/<name>`` with local ``$ref``s inlined (a fresh copy)."""
    doc = load_openapi()

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
                return inline(_resolve(doc, node))
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    result: dict[str, Any] = inline(doc["components"]["schemas"][name])
    return result


def _inline(doc: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _inline(doc, v) for k, v in _resolve(doc, node).items()}
    if isinstance(node, list):
        return [_inline(doc, v) for v in node]
    return node


def _response(operation_id: str, outcome: str) -> dict[str, Any]:
    doc = load_openapi()
    op = operation(operation_id)
    raw = doc["paths"][op.path][op.method.lower()]["responses"][str(op.status_for(outcome))]
    return _resolve(doc, raw)


def response_header_schemas(operation_id: str, outcome: str) -> dict[str, dict[str, Any]]:
    """Header name -> schema, for the headers the contract gives ``outcome``."""
    headers = _response(operation_id, outcome).get("headers", {})
    doc = load_openapi()
    return {name: _inline(doc, header).get("schema", {}) for name, header in headers.items()}


def response_schema(operation_id: str, outcome: str) -> dict[str, Any] | None:
    """The JSON body schema of ``outcome`` of ``operation_id`` (``$ref``s inlined), if any."""
    content = _response(operation_id, outcome).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None
    schema: dict[str, Any] = _inline(load_openapi(), media["schema"])
    return schema

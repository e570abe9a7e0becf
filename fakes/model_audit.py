"""The fake model's audit of each request against ``contract/model.yaml`` and ``tools.yaml``.

The model can judge alone what needs no knowledge of the session: the key is carried in the
provider's header and form, the wire format's required headers are there, the model is
named, and every declared tool is a contract tool whose parameters fit the contract. What
needs the session's settings (which key, which temperature, which tools were enabled) the
suites judge from the recorded values (``GET /_fake/requests``), with the same readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import ProviderRules, tool_contract


@dataclass(frozen=True)
class Audit:
    """What one model request carried, read with the contract's rules, and what is wrong."""

    api: str
    api_key: str | None
    model: str
    temperature: Any
    max_tokens: Any
    stream: bool
    system: str
    prompt: str
    declared_tools: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    traceparent: str | None = None
    """The W3C trace context the request carried (the ``traced`` clauses judge it)."""
    tracestate: str | None = None


def audit_request(
    rules: ProviderRules, headers: Mapping[str, str], body: Mapping[str, Any]
) -> Audit:
    """Read ``body`` with ``rules``' wire format and list every contract problem in it."""
    api = rules.api
    key = rules.key_of(headers)
    problems: list[str] = []
    if key is None:
        shown = rules.key_format.replace("{api_key}", "<api_key>")
        problems.append(f"no api key in the {rules.key_header} header (expected {shown!r})")
    for name, value in rules.headers.items():
        if name not in headers:
            problems.append(f"header {name} missing (expected {value!r})")
    model = api.value(body, "model")
    if not isinstance(model, str) or not model:
        problems.append("model missing")
    declared = api.declared_tools(body)
    for name, parameters in (declared or {}).items():
        spec = tool_contract().tools.get(name)
        if spec is None:
            problems.append(f"tools declares {name!r}, which is not a contract tool")
        else:
            problems += spec.incompatibilities(parameters)
    return Audit(
        api=api.name,
        api_key=key,
        model=str(model or ""),
        temperature=api.value(body, "temperature"),
        max_tokens=api.value(body, "max_tokens"),
        stream=api.value(body, "stream") is True,
        system=api.system_text(body),
        prompt=api.prompt_text(body),
        declared_tools=declared,
        problems=problems,
        traceparent=headers.get("traceparent"),
        tracestate=headers.get("tracestate"),
    )

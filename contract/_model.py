"""``model.yaml``: what a sidecar sends to a session's model, per provider and wire format.

:func:`provider_rules` says where a provider's requests go and how they carry the key;
:class:`WireFormat` reads the settings out of a request body of its API (the fake model's
audit and the suites use the same reading, so the rules are stated once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from contract._files import MODEL_PATH, load_data

_MISSING = object()


def _pointer(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or :data:`_MISSING`."""
    node = document
    for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


@dataclass(frozen=True)
class WireFormat:
    """Where each setting sits in a request body of one API."""

    name: str
    fields: Mapping[str, Any]

    def value(self, body: Mapping[str, Any], setting: str) -> Any:
        """``model``, ``temperature``, ``max_tokens`` or ``stream`` of ``body`` (None: absent)."""
        found = _pointer(body, str(self.fields[setting]))
        return None if found is _MISSING else found

    def _messages(self, body: Mapping[str, Any], where: Mapping[str, Any]) -> list[Any]:
        found = _pointer(body, str(where["messages"]))
        return found if isinstance(found, list) else []

    def system_text(self, body: Mapping[str, Any]) -> str:
        where = self.fields["system"]
        if "field" in where:
            found = _pointer(body, str(where["field"]))
            return "" if found is _MISSING else _text(found)
        messages = self._messages(body, where)
        return "\n".join(
            _text(m.get("content"))
            for m in messages
            if isinstance(m, Mapping) and m.get("role") == where["role"]
        )

    def prompt_text(self, body: Mapping[str, Any]) -> str:
        """The text of the first user message."""
        where = self.fields["prompt"]
        for message in self._messages(body, where):
            if isinstance(message, Mapping) and message.get("role") == where["role"]:
                return _text(message.get("content"))
        return ""

    def declared_tools(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Tool name -> its declared parameter schema; ``None`` when the body declares none."""
        where = self.fields["tools"]
        found = _pointer(body, str(where["list"]))
        if not isinstance(found, list) or not found:
            return None
        tools: dict[str, Any] = {}
        for item in found:
            name = _pointer(item, str(where["name"]))
            params = _pointer(item, str(where["parameters"]))
            tools[str(name) if name is not _MISSING else ""] = (
                params if params is not _MISSING else {}
            )
        return tools


@dataclass(frozen=True)
class ProviderRules:
    """Where a provider's model requests go and how they carry the session's key."""

    provider: str
    api: WireFormat
    default_endpoint: str
    path: str
    key_header: str
    key_format: str
    headers: Mapping[str, str]
    strip_suffix: str | None = None

    def base(self, api_endpoint: str | None) -> str:
        """``api_endpoint`` normalised (model.yaml): without trailing slashes, then without
        the provider's ``strip_suffix`` (anthropic: ``.../v1`` and ``...`` are one base)."""
        base = (api_endpoint or self.default_endpoint).rstrip("/")
        if self.strip_suffix and base.endswith(self.strip_suffix):
            base = base.removesuffix(self.strip_suffix).rstrip("/")
        return base

    def url(self, api_endpoint: str | None) -> str:
        """The request URL for a session's ``model_config.api_endpoint``."""
        return self.base(api_endpoint) + self.path

    def key_value(self, api_key: str) -> str:
        return self.key_format.format(api_key=api_key)

    def request_headers(self, api_key: str) -> dict[str, str]:
        return {self.key_header: self.key_value(api_key), **self.headers}

    def key_of(self, headers: Mapping[str, str]) -> str | None:
        """The api_key a request carried (``None``: none, or not in the provider's form)."""
        raw = headers.get(self.key_header)
        if raw is None:
            return None
        prefix, _, suffix = self.key_format.partition("{api_key}")
        if not raw.startswith(prefix) or not raw.endswith(suffix) or len(raw) <= len(prefix):
            return None
        return raw[len(prefix) : len(raw) - len(suffix)] if suffix else raw[len(prefix) :]


@cache
def provider_rules(provider: str) -> ProviderRules:
    """The rules of ``provider`` (``openai``, ``local``, ``anthropic``); KeyError if unknown."""
    raw = load_data(MODEL_PATH)
    entry = raw["providers"][provider]
    api = str(entry["api"])
    return ProviderRules(
        provider=provider,
        api=WireFormat(api, raw["apis"][api]),
        default_endpoint=str(entry["default_endpoint"]),
        path=str(entry["path"]),
        key_header=str(entry["key_header"]),
        key_format=str(entry["key_format"]),
        headers={str(k): str(v) for k, v in (entry.get("headers") or {}).items()},
        strip_suffix=str(entry["strip_suffix"]) if entry.get("strip_suffix") else None,
    )


def providers() -> tuple[str, ...]:
    return tuple(load_data(MODEL_PATH)["providers"])


def wire_format(api: str) -> WireFormat:
    return WireFormat(api, load_data(MODEL_PATH)["apis"][api])


def model_failure_codes() -> frozenset[str]:
    """The ``code`` values of a fatal error caused by the model (model.yaml failure_codes)."""
    return frozenset(load_data(MODEL_PATH)["failure_codes"])

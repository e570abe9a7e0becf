"""tools.yaml and model.yaml: loaded, consistent with the events and the OpenAPI enum."""

from __future__ import annotations

import json

import pytest

import contract
from contract import EVENTS_DIR, provider_rules, resolved_component, tool_contract, validate_event

TS = "2026-11-25T10:00:00.000Z"


def test_every_contract_tool_has_a_declaration_and_nothing_else_does() -> None:
    assert set(tool_contract().tools) == set(resolved_component("Tool")["enum"])


def test_the_tool_result_event_schema_is_the_tools_contract_result() -> None:
    schema = json.loads((EVENTS_DIR / "tool_result.json").read_text())
    result = dict(schema["properties"]["result"])
    result.pop("description", None)
    assert result == tool_contract().result_schema(), "regenerate events/tool_result.json"


@pytest.mark.parametrize(
    ("result", "valid"),
    [
        ({"output": "x"}, True),
        ({"output": "", "metadata": {"lines": 1}}, True),
        ({"error": "no such file"}, True),
        ({"error": ""}, False),
        ({"output": "x", "error": "y"}, False),
        ({}, False),
        ({"success": True}, False),
        ({"output": 3}, False),
    ],
)
def test_a_tool_result_is_a_success_or_the_error_never_both(
    result: dict[str, object], valid: bool
) -> None:
    event = {"tool": "read", "result": result, "call_id": "c1", "timestamp": TS}
    assert (validate_event("tool_result", event) == []) is valid


def test_declared_parameters_are_judged_by_required_names_and_types() -> None:
    edit = tool_contract().tools["edit"]
    assert edit.incompatibilities(edit.parameters) == []
    renamed = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    problems = edit.incompatibilities(renamed)
    assert any("filePath is not declared" in p for p in problems)
    assert any("does not know ['path']" in p for p in problems)
    extra_optional = {
        **edit.parameters,
        "properties": {**edit.properties, "dryRun": {"type": "boolean"}},
    }
    assert edit.incompatibilities(extra_optional) == []


def test_openai_and_anthropic_rules() -> None:
    openai = provider_rules("openai")
    assert openai.url("http://h/v1/") == "http://h/v1/chat/completions"
    assert openai.key_of({"Authorization": openai.key_value("sk-1")}) == "sk-1"
    assert openai.key_of({"Authorization": "Basic sk-1"}) is None
    anthropic = provider_rules("anthropic")
    assert anthropic.url("http://h") == "http://h/v1/messages"
    # model.yaml strip_suffix: the SDKs' form of the base is the same base, never doubled
    for written in ("http://h/v1", "http://h/v1/", "http://h/"):
        assert anthropic.url(written) == "http://h/v1/messages"
    assert openai.url("http://h") == "http://h/chat/completions"  # used as written
    assert anthropic.key_of(anthropic.request_headers("sk-2")) == "sk-2"
    assert "anthropic-version" in anthropic.request_headers("k")
    assert set(contract.providers()) == set(
        resolved_component("ModelConfig")["properties"]["provider"]["enum"]
    )


def test_wire_formats_read_the_settings() -> None:
    body = {
        "model": "m",
        "temperature": 0.2,
        "max_tokens": 9,
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "do it"}]},
        ],
        "tools": tool_contract().openai_declarations(("read", "bash")),
    }
    api = provider_rules("openai").api
    assert (api.value(body, "model"), api.value(body, "temperature")) == ("m", 0.2)
    assert (api.system_text(body), api.prompt_text(body)) == ("sys", "do it")
    assert set(api.declared_tools(body) or {}) == {"read", "bash"}
    messages = {
        "model": "m",
        "max_tokens": 9,
        "system": [{"type": "text", "text": "sys"}],
        "messages": [{"role": "user", "content": "do it"}],
        "tools": tool_contract().anthropic_declarations(("edit",)),
    }
    api = provider_rules("anthropic").api
    assert (api.system_text(messages), api.prompt_text(messages)) == ("sys", "do it")
    assert api.declared_tools(messages) == {"edit": tool_contract().tools["edit"].parameters}
    assert api.value(messages, "temperature") is None

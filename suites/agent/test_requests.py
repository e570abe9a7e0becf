"""What a sidecar sends to the model (contract/model.yaml): each session's own key, its
settings, its prompts, and exactly its enabled tools with the contract's parameters."""

from __future__ import annotations

from typing import Any

import pytest

from contract import provider_rules, tool_contract
from suites.agent._audit import ModelRequest
from suites.agent._fixtures import AgentRun, ToolsPair
from suites.checks.verdict import check, violation

pytest_plugins = ("suites.agent._fixtures",)


def _requests(run: AgentRun) -> list[ModelRequest]:
    found = run.requests()
    if not found:
        violation(
            f"{run.label}: the fake model got no request carrying the session's prompt",
            f"requests whose first user message holds {run.marker!r}",
            "none (the prompt was not sent, or the model was not called)",
        )
    return found


def _agent_loop(requests: list[ModelRequest]) -> list[ModelRequest]:
    """The requests that declare tools (side requests, e.g. a title, may declare none)."""
    return [r for r in requests if r.declared_tools]


@pytest.mark.clause("AGENT-REQUEST-KEY")
def test_each_request_carries_its_own_sessions_key(tools_pair: ToolsPair) -> None:
    for run in tools_pair:
        rules = provider_rules(run.config["provider"])
        others = {r.api_key: r for r in tools_pair if r is not run}
        for n, request in enumerate(_requests(run)):
            key = request.api_key
            where = f"{run.label} request {n + 1}, header {rules.key_header}"
            other = others.get(key or "")
            if other is not None:
                violation(
                    f"{where}: carries the other concurrent session's api_key",
                    f"this session's key ({run.api_key[-6:]!r} at the end)",
                    f"the other session's key ({other.api_key[-6:]!r} at the end)",
                )
            check(
                key == run.api_key,
                f"{where}: must carry the session's api_key as "
                f"{rules.key_format.replace('{api_key}', '<api_key>')!r}",
                f"...{run.api_key[-6:]}",
                "no key" if key is None else f"another key ending ...{key[-6:]}",
            )


@pytest.mark.clause("AGENT-REQUEST-SETTINGS")
def test_model_temperature_and_max_tokens_as_configured(tools_pair: ToolsPair) -> None:
    for run in tools_pair:
        rules = provider_rules(run.config["provider"])
        for n, request in enumerate(_requests(run)):
            where = f"{run.label} request {n + 1}"
            check(
                request.path.endswith(rules.path),
                f"{where}: must go to api_endpoint + {rules.path}",
                rules.path,
                request.path,
            )
            for setting in ("model", "temperature", "max_tokens"):
                wanted = run.config[setting]
                got = request.value(setting)
                same = got == wanted or (
                    isinstance(got, int | float)
                    and isinstance(wanted, int | float)
                    and abs(got - wanted) < 1e-9
                )
                check(
                    same,
                    f"{where}: field {setting} must be model_config.{setting}",
                    wanted,
                    got,
                )


@pytest.mark.clause("AGENT-REQUEST-PROMPTS")
def test_the_first_request_carries_the_system_prompt_and_the_prompt(
    tools_pair: ToolsPair,
) -> None:
    for run in tools_pair:
        first = _requests(run)[0]
        where = (
            "model_config.system_prompt"
            if run is tools_pair.second
            else f"POST body system_prompt ({run.label})"
        )
        system = str(first.value("system"))
        check(
            run.system_prompt is not None and run.system_prompt in system,
            f"the first model request's system text must hold the session's {where}",
            run.system_prompt,
            system[:300] or "no system text",
        )
        prompt = str(first.value("prompt"))
        check(
            run.prompt in prompt,
            "the first model request's first user message must hold the session's prompt",
            run.prompt,
            prompt[:300] or "no user message",
        )


def _declared_problems(run: AgentRun, enabled: tuple[str, ...]) -> list[str]:
    requests = _requests(run)
    loop = _agent_loop(requests)
    if not loop:
        return [f"no model request of {run.scenario} declared tools (wanted {list(enabled)})"]
    problems: list[str] = []
    for n, request in enumerate(loop):
        declared: dict[str, Any] = request.declared_tools or {}
        where = f"{run.label} request {n + 1} field tools"
        if sorted(declared) != sorted(enabled):
            problems.append(f"{where}: declares {sorted(declared)}, enabled {sorted(enabled)}")
        for name, parameters in declared.items():
            spec = tool_contract().tools.get(name)
            if spec is not None:
                problems += [f"{where}: {p}" for p in spec.incompatibilities(parameters)]
    return problems


@pytest.mark.clause("AGENT-REQUEST-TOOLS")
def test_declared_tools_are_exactly_the_enabled_ones(
    tools_pair: ToolsPair, not_enabled_run: AgentRun
) -> None:
    problems = [
        p for run in tools_pair for p in _declared_problems(run, tuple(run.config["enabled_tools"]))
    ]
    problems += _declared_problems(not_enabled_run, ("read",))
    check(
        not problems,
        "tools must declare exactly model_config.enabled_tools, with tools.yaml's parameters",
        "one declaration per enabled tool, each compatible with contract/tools.yaml",
        problems,
    )


@pytest.mark.clause("AGENT-REQUEST-ENDPOINT")
def test_an_anthropic_endpoint_ending_in_v1_is_not_doubled(anthropic_v1_run: AgentRun) -> None:
    run = anthropic_v1_run
    path = provider_rules("anthropic").path
    requests = run.requests()
    event, data = run.terminal()
    check(
        bool(requests) and all(r.path == path for r in requests) and event == "complete",
        f"with provider anthropic and api_endpoint {run.config.get('api_endpoint')!r}, "
        f"requests must go to {path} (model.yaml: a trailing /v1 of an anthropic base is "
        "stripped, never doubled)",
        f"requests at {path}, then complete",
        f"requests at {sorted({r.path for r in requests})} (none: the path it used is "
        f"unknown to the model); the session ended with {event} {data}",
    )

"""Sessions of the agent suite, each run once per test session and shared by its checks."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from contract import status_for
from suites.agent._audit import ModelRequest, model_requests
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.recording import Recording, data_of, record
from suites.plugin.head_starts import begun
from suites.plugin.target import TargetOptions

AGENT_TOOLS = "agent_tools"
AGENT_BASH_TIMEOUT = "agent_bash_timeout"
NEVER_ENDING = "never_ending"
BASH_TIMEOUT_MAX = 10.0
"""agent_bash_timeout's first command sleeps 30 s: a longer timeout cannot be told from
none (and the check should stay short)."""
AGENT_NOT_ENABLED = "agent_not_enabled"
TOOL_ERROR = "tool_error"
EDIT_AMBIGUOUS = "agent_edit_ambiguous"
QUICK = "quick"
ALL_TOOLS = ("read", "write", "bash", "edit")


@dataclass(frozen=True)
class AgentRun:
    """One finished session: what was asked of it, its stream, and its model requests."""

    session_id: str
    scenario: str
    marker: str
    api_key: str
    config: dict[str, Any]
    prompt: str
    system_prompt: str | None
    recording: Recording
    status: dict[str, Any]
    endpoint: str

    @property
    def label(self) -> str:
        """The scenario and the provider, for messages."""
        return f"{self.scenario} (provider {self.config.get('provider')})"

    def requests(self) -> list[ModelRequest]:
        """The fake model's record of this session's requests (skips without an audit)."""
        return model_requests(self.endpoint, self.scenario, self.marker)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [
            d
            for e in self.recording.events
            if e.event == kind and isinstance(d := data_of(e), dict)
        ]

    def terminal(self) -> tuple[str, dict[str, Any]]:
        index = self.recording.terminal_index()
        if index is None:
            precondition_failed("SSE-ONE-TERMINAL", f"{self.scenario}: the stream did not end")
        event = self.recording.events[index]
        data = data_of(event)
        return event.event or "message", data if isinstance(data, dict) else {}

    def results(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """(tool_call, its tool_result or None), in call order."""
        results = {r.get("call_id"): r for r in self.events("tool_result")}
        return [(c, results.get(c.get("call_id"))) for c in self.events("tool_call")]


@dataclass(frozen=True)
class SessionPlan:
    scenario: str
    api_key: str
    config: dict[str, Any]
    prompt: str
    body_system_prompt: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers of its POST /sessions (the backend's trace context)."""

    @property
    def system_prompt(self) -> str | None:
        return self.body_system_prompt or self.config.get("system_prompt")


def plan(
    scenario: str,
    endpoint: str,
    api_key: str,
    *,
    body_system_prompt: str | None = None,
    headers: Mapping[str, str] | None = None,
    **config: Any,
) -> SessionPlan:
    marker = f"agent-{secrets.token_hex(6)}"
    return SessionPlan(
        scenario,
        api_key,
        model_config(scenario, endpoint, api_key, **config),
        f"Play scenario {scenario}. Session marker {marker}.",
        body_system_prompt,
        dict(headers or {}),
    )


def run_sessions(
    client: SidecarClient,
    endpoint: str,
    plans: list[SessionPlan],
    max_silence: float,
    window: float = 60.0,
) -> list[AgentRun]:
    """Start every plan at once, read each stream to its end (at most ``window`` s)
    concurrently; a session still running then is cancelled."""
    started: list[tuple[str, SessionPlan]] = []
    for p in plans:
        session_id = str(uuid.uuid4())
        response = client.create_session(
            session_id, p.prompt, p.config, p.body_system_prompt, headers=p.headers
        )
        if not response.is_success:
            for sid, _ in started:
                client.cancel(sid)
            precondition_failed(
                "CREATE-201", f"POST /sessions answered {response.status_code}: {response.text}"
            )
        started.append((session_id, p))
    recordings: dict[str, Recording] = {}

    def read(session_id: str) -> None:
        recordings[session_id] = record(client, session_id, max_silence=max_silence, window=window)

    threads = [threading.Thread(target=read, args=(sid,)) for sid, _ in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = []
    for session_id, p in started:
        rec = recordings[session_id]
        if not rec.ended:
            client.cancel(session_id)
        status = client.status(session_id)
        found = status_for("getSessionStatus", "status")
        body = status.json() if status.status_code == found else {}
        marker = p.prompt.rsplit(" ", 1)[-1].rstrip(".")
        runs.append(
            AgentRun(
                session_id,
                p.scenario,
                marker,
                p.api_key,
                p.config,
                p.prompt,
                p.system_prompt,
                rec,
                body,
                endpoint,
            )
        )
    return runs


@dataclass(frozen=True)
class ToolsPair:
    """Two concurrent ``agent_tools`` sessions with different keys and settings, then one
    with ``provider: anthropic`` (contract/model.yaml: the same rules hold)."""

    first: AgentRun
    second: AgentRun
    anthropic: AgentRun

    def __iter__(self) -> Iterator[AgentRun]:
        return iter((self.first, self.second, self.anthropic))


def anthropic_endpoint(model_endpoint: str) -> str:
    """The fake model's base URL for provider anthropic: without the version segment."""
    return model_endpoint.rstrip("/").removesuffix("/v1")


@pytest.fixture(scope="session")
def tools_pair(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> ToolsPair:
    """``agent_tools`` twice at once: keys ``<api_key>-a``/``-b``, different temperature and
    max_tokens, the system prompt once in the POST body and once in model_config."""
    first = plan(
        AGENT_TOOLS,
        model_endpoint,
        f"{api_key}-a",
        temperature=0.3,
        max_tokens=777,
        body_system_prompt=f"System A {secrets.token_hex(4)}: you edit files.",
    )
    second = plan(
        AGENT_TOOLS,
        model_endpoint,
        f"{api_key}-b",
        temperature=1.1,
        max_tokens=555,
        system_prompt=f"System B {secrets.token_hex(4)}: you edit files.",
    )
    a, b = run_sessions(sidecar, model_endpoint, [first, second], max_silence)
    third = plan(
        AGENT_TOOLS,
        anthropic_endpoint(model_endpoint),
        f"{api_key}-c",
        provider="anthropic",
        temperature=0.6,
        max_tokens=888,
        body_system_prompt=f"System C {secrets.token_hex(4)}: you edit files.",
    )
    [c] = run_sessions(sidecar, model_endpoint, [third], max_silence)
    return ToolsPair(a, b, c)


@pytest.fixture(scope="session")
def not_enabled_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> AgentRun:
    """``agent_not_enabled`` with only ``read`` enabled."""
    only_read = plan(AGENT_NOT_ENABLED, model_endpoint, api_key, enabled_tools=("read",))
    return run_sessions(sidecar, model_endpoint, [only_read], max_silence)[0]


@pytest.fixture(scope="session")
def tool_error_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> AgentRun:
    """``tool_error``: a read of a file that does not exist, then an answer."""
    return run_sessions(
        sidecar, model_endpoint, [plan(TOOL_ERROR, model_endpoint, api_key)], max_silence
    )[0]


@pytest.fixture(scope="session")
def anthropic_v1_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> AgentRun:
    """``quick`` with provider anthropic and an api_endpoint that ends in /v1 (the form
    the Anthropic SDKs use): model.yaml strips it, so requests still go to /v1/messages."""
    with_v1 = anthropic_endpoint(model_endpoint) + "/v1"
    run = plan(QUICK, with_v1, f"{api_key}-v1", provider="anthropic")
    return run_sessions(sidecar, model_endpoint, [run], max_silence)[0]


@pytest.fixture(scope="session")
def edit_ambiguous_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> AgentRun:
    """``agent_edit_ambiguous``: an edit whose oldString occurs twice, without replaceAll."""
    return run_sessions(
        sidecar, model_endpoint, [plan(EDIT_AMBIGUOUS, model_endpoint, api_key)], max_silence
    )[0]


@dataclass(frozen=True)
class Unchecked:
    """Why a clause cannot be checked on a target, and the verify flag that enables it."""

    reason: str
    flag: str


def bash_timeout_unchecked(target: TargetOptions) -> Unchecked | None:
    """Why AGENT-BASH-TIMEOUT cannot be checked on ``target`` (and the flag that fixes it)."""
    limit = target.bash_timeout
    if limit is None or limit > BASH_TIMEOUT_MAX:
        shown = "not declared" if limit is None else f"{limit:g} s"
        return Unchecked(
            f"the target's bash timeout is {shown}; run it with one of at most "
            f"{BASH_TIMEOUT_MAX:g} s",
            "--bash-timeout",
        )
    if target.session_timeout is not None and target.session_timeout < limit + 1.5:
        return Unchecked(
            f"SESSION_TIMEOUT {target.session_timeout:g} s leaves no time after a bash timeout "
            f"of {limit:g} s; run the target with SESSION_TIMEOUT >= {limit + 1.5:g} s",
            "--session-timeout",
        )
    return None


def endless_window(target: TargetOptions) -> float | None:
    """How long a never-ending session is watched (``None``: no SESSION_TIMEOUT declared)."""
    return None if target.session_timeout is None else target.session_timeout * 1.5 + 2


@dataclass(frozen=True)
class SlowRuns:
    """The sessions that wait on a timeout, run at once: ``never_ending`` (ended by
    SESSION_TIMEOUT) and ``agent_bash_timeout``; ``None`` where the target's settings do
    not allow the check."""

    endless: AgentRun | None
    bash_timeout: AgentRun | None


@pytest.fixture(scope="session")
def slow_runs(
    target: TargetOptions,
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
    held_from_start: dict[str, int],
) -> Callable[[], SlowRuns]:
    """The slow runs, as the call that waits for them: a head start when the target's
    MAX_SESSIONS leaves them room (``suites.plugin.head_starts.HEAD_STARTS``)."""
    work = partial(_slow_runs, target, sidecar, model_endpoint, api_key, max_silence)
    return begun(work, "slow_runs" in held_from_start)


def _slow_runs(
    target: TargetOptions,
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
) -> SlowRuns:
    plans: dict[str, SessionPlan] = {}
    window = endless_window(target)
    if window is not None:
        plans["endless"] = plan(NEVER_ENDING, model_endpoint, api_key)
    if bash_timeout_unchecked(target) is None:
        plans["bash"] = plan(AGENT_BASH_TIMEOUT, model_endpoint, api_key, enabled_tools=("bash",))
    silence = max(max_silence, 10.0)
    batches = [[p] for p in plans.values()] if target.max_sessions == 1 else [list(plans.values())]
    runs = [
        run
        for batch in batches
        if batch
        for run in run_sessions(sidecar, model_endpoint, batch, silence, window or 60.0)
    ]
    found = {run.scenario: run for run in runs}
    return SlowRuns(found.get(NEVER_ENDING), found.get(AGENT_BASH_TIMEOUT))

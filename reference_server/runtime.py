"""The runtime seam: what a sidecar runs a session *on*.

The reference server owns the contract (ids, timestamps, terminal events,
timeouts, cancellation, the event log). A runtime only does the agent's work
and reports it through an :class:`EventSink`:

    server ── run(spec, sink) ──▶ Runtime
       ▲                             │  sink.output / tool_call / tool_result /
       └──────── RunResult ◀─────────┘  progress / warning   (non-terminal only)

Rules every runtime follows:

* ``run`` returns a :class:`RunResult` when the agent finished, or raises
  :class:`RuntimeFailure` when it cannot go on (model unreachable, model error,
  crashed child process...). The server turns either into the terminal event.
* Cancellation is asyncio cancellation: the server cancels the task running
  ``run`` (on ``DELETE``, on ``SESSION_TIMEOUT``, on shutdown). The runtime
  cleans up (kills child processes, closes connections) and lets
  ``CancelledError`` propagate.
* Tools act only inside ``spec.workspace``; a path that escapes it is refused
  with a tool error (``tool_result`` whose ``result`` has an ``error``), never
  executed.
* ``spec.model.api_key`` is a secret: never put it in an event, a log line or
  an exception message.
* Before a tool runs, the runtime awaits ``sink.authorize(call_id, tool, args)``
  (after reporting the ``tool_call``): the server's permission gate, the one call
  of the sink that may wait (for the backend's answer). A refusal is the tool's
  error (its ``message`` is what the model receives); the tool never runs.
* ``spec.history`` holds the earlier turns of the conversation a follow-up continues
  (``POST /sessions`` ``continue_from``): the model's first request carries them, in
  order, before ``spec.prompt``. Empty for a session that starts a conversation.

Implementations: ``fakes.runtime.FakeOpenCodeRuntime`` (a small real agent
loop) and ``reference_server.runtimes.opencode.OpenCodeRuntime`` (the real
``opencode serve``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from contract import ProviderRules, provider_rules

OutputStream = Literal["stdout", "stderr"]
DEFAULT_ENDPOINT = provider_rules("openai").default_endpoint
"""Where a session without ``model_config.api_endpoint`` sends its model calls (model.yaml)."""


@dataclass(frozen=True)
class ModelConfig:
    """``model_config`` of ``POST /sessions``, already validated by the server."""

    provider: str
    model: str
    api_key: str = field(repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    enabled_tools: tuple[str, ...] = ()
    model_version: str | None = None
    api_endpoint: str | None = None
    system_prompt: str | None = None

    @property
    def rules(self) -> ProviderRules:
        """contract/model.yaml's rules for this provider (URL, key header, wire format)."""
        return provider_rules(self.provider)

    @property
    def chat_completions_url(self) -> str:
        """The OpenAI-compatible chat completions URL of this model (model.yaml)."""
        rules = self.rules if self.rules.api.name == "openai_chat" else provider_rules("openai")
        return rules.url(self.api_endpoint)

    def key_headers(self) -> dict[str, str]:
        """The headers that carry this session's key (model.yaml ``key_header``)."""
        return self.rules.request_headers(self.api_key)

    def request_body(self, **fields: Any) -> dict[str, Any]:
        """A chat completions body: ``fields``, this model, and its sampling settings."""
        body = {**fields, "model": self.model}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body


@dataclass(frozen=True)
class ToolExchange:
    """One tool call of an earlier turn and its result (tools.yaml's success or error)."""

    call_id: str
    tool: str
    args: Mapping[str, Any]
    result: Mapping[str, Any] | None = None
    """``None``: the turn ended before the tool reported a result."""

    @property
    def result_text(self) -> str:
        """What the model received for it: the output, or ``Error: <error>``."""
        result = self.result or {"error": "the tool did not finish"}
        if "error" in result:
            return f"Error: {result['error']}"
        return str(result.get("output", ""))


@dataclass(frozen=True)
class AssistantStep:
    """One answer of the model in an earlier turn: its text, then the tools it called."""

    text: str = ""
    tools: tuple[ToolExchange, ...] = ()


@dataclass(frozen=True)
class EarlierTurn:
    """One earlier session of the conversation: its prompt and what the agent did."""

    prompt: str
    steps: tuple[AssistantStep, ...] = ()


@dataclass(frozen=True)
class ToolPermission:
    """The permission gate's answer for one tool call."""

    allowed: bool
    message: str = ""
    """When refused: what the model receives as the tool's error."""


ALLOWED = ToolPermission(True)


@dataclass(frozen=True)
class SessionSpec:
    """Everything a runtime needs to run one session."""

    session_id: str
    prompt: str
    model: ModelConfig
    workspace: Path
    """The session's own directory (``WORKSPACE_DIR/<session_id>``); it exists. With a
    project (``PROJECT_DIR``) it holds the session's checkout of the project at its base
    before ``run`` is called: the runtime's agent works there as in any folder."""
    system_prompt: str | None = None
    history: tuple[EarlierTurn, ...] = ()
    """The earlier turns a follow-up continues, oldest first (empty: a new conversation)."""
    continued_from: str | None = None
    """The session this one continues (``continue_from``), if any."""
    base_ref: str | None = None
    """With a project: the ``base_ref`` asked (``HEAD`` when none was)."""
    base_commit: str | None = None
    """With a project: the commit ``base_ref`` named when the session was created."""

    @property
    def effective_system_prompt(self) -> str | None:
        """The request's ``system_prompt``, else the model config's."""
        return self.system_prompt or self.model.system_prompt


@dataclass(frozen=True)
class RunResult:
    """What a finished session produced."""

    final_message: str
    files_modified: tuple[str, ...] = ()
    """Paths relative to the session workspace, in the order first modified."""


class RuntimeFailure(Exception):
    """The session cannot continue; the server ends it with a fatal ``error`` event.

    ``code`` is a short machine-readable reason (``model_error``,
    ``model_unreachable``, ``runtime_error``...). The message must not contain
    secrets.
    """

    def __init__(self, message: str, code: str = "runtime_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class EventSink(Protocol):
    """Where a runtime reports progress. Calls are cheap and never block."""

    def output(self, text: str, stream: OutputStream = "stdout") -> None:
        """Text the agent produced (model text, or tool output worth showing)."""

    def tool_call(self, call_id: str, tool: str, args: Mapping[str, Any]) -> None:
        """The agent invoked ``tool``; ``call_id`` pairs it with its result."""

    def tool_result(self, call_id: str, tool: str, result: Mapping[str, Any]) -> None:
        """``tool`` finished; ``result`` has ``output`` on success or ``error``."""

    def progress(self, progress: int) -> None:
        """Overall progress 0..100 (monotonic; the server drops regressions)."""

    def warning(self, message: str) -> None:
        """A non-fatal problem (a failed tool, a retried model call)."""

    def model_call(self, outcome: str, seconds: float) -> None:
        """One model request ended: ``ok``, or its failure code (model.yaml
        ``failure_codes``), after ``seconds`` (to its last byte). Metrics only."""

    async def authorize(self, call_id: str, tool: str, args: Mapping[str, Any]) -> ToolPermission:
        """May ``tool`` run now? The session's permission policy decides, asking the backend
        when it says ``ask`` (this may wait, until an answer or PERMISSION_TIMEOUT)."""
        ...


class Runtime(Protocol):
    """A pluggable agent runtime."""

    name: str

    @property
    def gates_tools(self) -> bool:
        """Whether it awaits ``sink.authorize`` before each tool runs: a session created
        with ``permissions`` needs it, and the server refuses one on a runtime that does not
        (rather than let its tools run unasked)."""

    async def start(self) -> None:
        """Acquire what the runtime needs (child processes, HTTP sessions)."""

    async def close(self) -> None:
        """Release everything acquired by :meth:`start`."""

    def not_ready_reason(self) -> str | None:
        """``None`` when sessions can run, else why not (shown by ``/ready``)."""

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        """Run one session to its end; see the module docstring for the rules."""

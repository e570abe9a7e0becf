"""The fake OpenCode runtime: a small, genuine agent loop over an OpenAI-compatible model.

It sends the prompt (and system prompt) with the enabled tools to
``model_config.api_endpoint``, streams the reply (text -> ``output`` events), runs each
tool call for real in the session workspace, feeds the results back, and loops until the
model stops. Model faults become :class:`RuntimeFailure`; tool failures are not fatal.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from fakes.anthropic_client import messages_body, read_messages_stream
from fakes.confined_tools import ConfinedWorkspaceTools
from fakes.tools import (
    BASH_TIMEOUT,
    OUTPUT_CAP,
    TOOL_ERROR_PREFIX,
    WorkspaceTools,
    error_result,
    success_result,
    tool_definitions,
)
from fakes.workspace_files import ToolError
from reference_server.history_format import chat_messages
from reference_server.runtime import (
    EventSink,
    RunResult,
    RuntimeFailure,
    SessionSpec,
)
from reference_server.sandbox import Sandbox
from reference_server.tracing import client_trace_config, model_call_span

MAX_TURNS = 50


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None


ToolsFactory = Callable[[SessionSpec, float], WorkspaceTools]
"""Builds a session's tools from its spec and the bash timeout (faulty sidecars swap it)."""


def confined_tools(sandbox: Sandbox | None) -> ToolsFactory:
    """The reference's tools: path checks, and the kernel's confinement when ``sandbox``."""

    def factory(spec: SessionSpec, bash_timeout: float) -> WorkspaceTools:
        return ConfinedWorkspaceTools(spec.workspace, bash_timeout, sandbox=sandbox)

    return factory


class FakeOpenCodeRuntime:
    """Implements :class:`reference_server.runtime.Runtime`."""

    name = "fake"
    gates_tools = True

    def __init__(
        self,
        read_timeout: float = 30.0,
        bash_timeout: float = BASH_TIMEOUT,
        tools_factory: ToolsFactory | None = None,
        bash_output_cap: int = OUTPUT_CAP,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.read_timeout = read_timeout
        self.bash_timeout = bash_timeout
        self.bash_output_cap = bash_output_cap
        self.sandbox = sandbox
        """The kernel confinement of every session's tools (``None``: path checks only)."""
        self.tools_factory: ToolsFactory = tools_factory or confined_tools(sandbox)
        self.declarations: Callable[[tuple[str, ...]], list[dict[str, Any]]] = tool_definitions
        """The tools declared to the model for a session's enabled tools (faults swap it)."""
        self.refuse_disabled = True
        """Refuse a call to a tool the session did not enable (a fault turns it off)."""
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self.read_timeout),
            connector=aiohttp.TCPConnector(limit=0),
            trace_configs=[client_trace_config()],
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def not_ready_reason(self) -> str | None:
        return None if self._http is not None and not self._http.closed else "runtime not started"

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        tools = self.tools_factory(spec, self.bash_timeout)
        tools.output_cap = self.bash_output_cap
        messages: list[dict[str, Any]] = []
        if spec.effective_system_prompt:
            messages.append({"role": "system", "content": spec.effective_system_prompt})
        messages += chat_messages(spec.history)
        messages.append({"role": "user", "content": spec.prompt})
        definitions = self.declarations(spec.model.enabled_tools)
        last_text = ""
        try:
            for turn in range(MAX_TURNS):
                sink.progress(min(90, 10 * (turn + 1)))
                reply = await self._complete(spec, messages, definitions, sink)
                last_text = reply.text or last_text
                assistant: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
                if reply.tool_calls:
                    assistant["tool_calls"] = reply.tool_calls
                messages.append(assistant)
                if not reply.tool_calls:
                    return RunResult(last_text, tuple(tools.modified))
                for call in reply.tool_calls:
                    messages.append(await self._run_tool(call, spec, tools, sink))
        finally:
            tools.kill()
        raise RuntimeFailure(f"the model did not finish within {MAX_TURNS} turns", "runtime_error")

    async def _run_tool(
        self, call: dict[str, Any], spec: SessionSpec, tools: WorkspaceTools, sink: EventSink
    ) -> dict[str, Any]:
        name = call["function"]["name"]
        try:
            args = json.loads(call["function"]["arguments"] or "{}")
        except ValueError:
            args = {"_raw": call["function"]["arguments"]}
        sink.tool_call(call["id"], name, args if isinstance(args, dict) else {"_raw": args})
        try:
            if self.refuse_disabled and name not in spec.model.enabled_tools:
                raise ToolError(f"tool {name!r} is not enabled for this session")
            if not isinstance(args, dict):
                raise ToolError("arguments must be a JSON object")
            permission = await sink.authorize(call["id"], name, args)
            if not permission.allowed:
                raise ToolError(permission.message)
            output = await tools.run(name, args)
            sink.tool_result(call["id"], name, success_result(output))
            content = output
        except ToolError as exc:
            sink.tool_result(call["id"], name, error_result(str(exc)))
            sink.warning(f"{name} failed: {exc}")
            content = f"{TOOL_ERROR_PREFIX}{exc}"
        return {"role": "tool", "tool_call_id": call["id"], "content": content}

    async def _complete(
        self,
        spec: SessionSpec,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        sink: EventSink,
    ) -> Reply:
        assert self._http is not None, "start() first"
        anthropic = spec.model.rules.api.name == "anthropic_messages"
        if anthropic:  # provider anthropic: the Messages API (contract/model.yaml)
            body = messages_body(spec, messages, tools)
            url = spec.model.rules.url(spec.model.api_endpoint)
        else:
            body = spec.model.request_body(messages=messages, stream=True)
            if tools:
                body["tools"] = tools
            url = spec.model.chat_completions_url
        headers = spec.model.key_headers()
        for attempt in (1, 2):
            started = time.monotonic()
            with model_call_span(spec.session_id, spec.model) as call:
                try:
                    reply = await self._request(url, body, headers, anthropic, attempt, sink)
                except RuntimeFailure as failure:
                    call.ended(failure.code)
                    sink.model_call(failure.code, time.monotonic() - started)
                    raise
                outcome = "rate_limited" if reply is None else "ok"
                call.ended(outcome)
                sink.model_call(outcome, time.monotonic() - started)
            if reply is not None:
                return reply
            sink.warning("the model is rate limited (HTTP 429); retrying once")
            await asyncio.sleep(0.5)
        raise RuntimeFailure("the model stayed rate limited", "model_error")

    async def _request(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        anthropic: bool,
        attempt: int,
        sink: EventSink,
    ) -> Reply | None:
        """One model request; ``None`` when rate limited on a first attempt (retry)."""
        assert self._http is not None
        try:
            async with self._http.post(url, json=body, headers=headers) as response:
                if response.status == 429 and attempt == 1:
                    return None
                if response.status >= 400:
                    raise RuntimeFailure(
                        f"the model answered HTTP {response.status}", "model_error"
                    )
                if anthropic:
                    reply: Reply = await read_messages_stream(response, sink, Reply)
                    return reply
                return await self._read_stream(response, sink)
        except aiohttp.ClientConnectorError:
            raise RuntimeFailure(f"cannot reach the model at {url}", "model_unreachable") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise RuntimeFailure(
                f"the model sent nothing for {self.read_timeout:g} s", "model_timeout"
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
            raise RuntimeFailure("the model dropped the connection", "model_error") from None

    async def _read_stream(self, response: aiohttp.ClientResponse, sink: EventSink) -> Reply:
        reply = Reply()
        calls: dict[int, dict[str, Any]] = {}
        done = False
        async for raw in response.content:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise RuntimeFailure("the model reported an error mid-stream", "model_error")
                choice = chunk["choices"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                raise RuntimeFailure(
                    "the model sent a malformed chunk", "model_protocol_error"
                ) from None
            delta = choice.get("delta") or {}
            if delta.get("content"):
                reply.text += delta["content"]
                sink.output(delta["content"])
            for part in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    part.get("index", 0),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = part.get("id") or slot["id"]
                function = part.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            reply.finish_reason = choice.get("finish_reason") or reply.finish_reason
        if not done and reply.finish_reason is None:
            raise RuntimeFailure("the model's stream ended early", "model_error")
        reply.tool_calls = [calls[i] for i in sorted(calls)]
        return reply

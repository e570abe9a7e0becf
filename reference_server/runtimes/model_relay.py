"""The model relay: how each session's ``model_config`` reaches one shared ``opencode serve``.

OpenCode reads its providers from its configuration, and changing that configuration at
run time disposes every instance (running sessions are aborted). So the configuration is
written once, before OpenCode starts, with one provider, ``sidecar``, whose ``baseURL`` is
this relay on 127.0.0.1 and whose models are a fixed set of *slots*. A session leases a
slot; OpenCode asks the relay for ``slot-N``; the relay forwards the request to the
session's own ``api_endpoint`` with the session's ``api_key``, model name, temperature and
max_tokens, and streams the answer back.

So the session's API key never leaves the sidecar's memory (OpenCode holds only the
relay's random token), and the sidecar sees each model failure itself (HTTP status,
unreachable endpoint, silence) instead of waiting for OpenCode's retry loop.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry import context as otel_context

from reference_server.history_format import with_history
from reference_server.runtime import EarlierTurn, ModelConfig
from reference_server.tracing import client_trace_config, model_call_span

log = logging.getLogger("reference_server.runtimes.opencode")

PROVIDER_ID = "sidecar"
ANTHROPIC_PROVIDER_ID = "sidecar-anthropic"
"""The relay's second face, for sessions with provider anthropic: OpenCode's Anthropic
provider (``@ai-sdk/anthropic``) with the relay as its base URL; same slots, same token."""
ANTHROPIC_PATH = "/anthropic/v1/messages"


@dataclass
class ModelFailure:
    """Why the model could not answer (never contains the API key)."""

    message: str
    code: str  # model_error | model_unreachable


@dataclass
class Lease:
    """One session's hold on a slot."""

    slot: str
    model: ModelConfig = field(repr=False)
    failure: ModelFailure | None = None
    requests: int = 0
    session_id: str = ""
    trace: otel_context.Context = field(default_factory=otel_context.get_current, repr=False)
    """The session's trace context: its model requests carry it (``traceparent``)."""
    observe: Callable[[str, float], None] | None = field(default=None, repr=False)
    """Told each model request's outcome and seconds (the session sink's ``model_call``)."""
    history: tuple[EarlierTurn, ...] = field(default=(), repr=False)
    """A follow-up's earlier turns: put before OpenCode's own messages in every request."""


class ModelRelay:
    """A loopback OpenAI-compatible endpoint that forwards each slot to its session's model."""

    def __init__(self, slots: int, read_timeout: float) -> None:
        self.read_timeout = read_timeout
        self.token = secrets.token_urlsafe(24)
        self._free: OrderedDict[str, None] = OrderedDict((f"slot-{i}", None) for i in range(slots))
        self._leases: dict[str, Lease] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    @property
    def slot_names(self) -> list[str]:
        return sorted([*self._free, *self._leases], key=lambda s: int(s.split("-")[1]))

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self.read_timeout),
            connector=aiohttp.TCPConnector(limit=0),
            trace_configs=[client_trace_config()],
        )
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post(ANTHROPIC_PATH, self._messages)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    def lease(
        self,
        model: ModelConfig,
        session_id: str = "",
        observe: Callable[[str, float], None] | None = None,
        history: tuple[EarlierTurn, ...] = (),
    ) -> Lease:
        """Take the least recently used free slot (there is one per concurrent session);
        called from the session's run, whose trace context the lease keeps."""
        if not self._free:
            raise RuntimeError("no free model slot: more sessions than MAX_CONCURRENT_SESSIONS")
        slot, _ = self._free.popitem(last=False)
        lease = Lease(slot, model, session_id=session_id, observe=observe, history=history)
        self._leases[slot] = lease
        return lease

    def release(self, lease: Lease) -> None:
        if self._leases.get(lease.slot) is lease:
            del self._leases[lease.slot]
            self._free[lease.slot] = None

    def provider_config(self) -> dict[str, Any]:
        """The ``provider`` section of OpenCode's configuration: one provider per wire
        format, both pointing at this relay."""
        anthropic_base = self.url.removesuffix("/v1") + ANTHROPIC_PATH.removesuffix("/messages")
        return {
            PROVIDER_ID: self._provider(
                "@ai-sdk/openai-compatible", "opencode-sidecar model relay", self.url
            ),
            ANTHROPIC_PROVIDER_ID: self._provider(
                "@ai-sdk/anthropic",
                "opencode-sidecar model relay (Anthropic Messages)",
                anthropic_base,
            ),
        }

    def _provider(self, npm: str, name: str, base_url: str) -> dict[str, Any]:
        timeout_ms = max(1, int(self.read_timeout * 1000))
        return {
            "npm": npm,
            "name": name,
            "options": {
                "baseURL": base_url,
                "apiKey": self.token,
                "headerTimeout": timeout_ms,
                "chunkTimeout": timeout_ms,
            },
            "models": {
                slot: {"name": slot, "tool_call": True, "temperature": True}
                for slot in self.slot_names
            },
        }

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": s, "object": "model", "owned_by": PROVIDER_ID} for s in self.slot_names]
        return web.json_response({"object": "list", "data": data})

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        """OpenCode's Anthropic provider -> the session's Anthropic Messages endpoint."""
        given = request.headers.get("x-api-key", "")
        return await self._relay(request, hmac.compare_digest(given.encode(), self.token.encode()))

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._relay(request, self._authorised(request))

    async def _relay(self, request: web.Request, authorised: bool) -> web.StreamResponse:
        """One model request of OpenCode's -> the leasing session's own endpoint and key."""
        if not authorised:
            return _error(401, "relay token required")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        lease = self._leases.get(str(body.get("model")))
        if lease is None:
            return _error(404, f"no session holds {body.get('model')!r}")
        lease.requests += 1
        body = only_enabled_tools(body, lease.model.enabled_tools)
        body = with_history(lease.model.rules.api.name, body, lease.history)
        before, started = lease.failure, time.monotonic()
        with model_call_span(lease.session_id, lease.model, lease.trace) as call:
            response = await self._forward(request, lease, lease.model.request_body(**body))
            failure = lease.failure
            outcome = failure.code if failure is not None and failure is not before else "ok"
            call.ended(outcome)
        if lease.observe is not None:
            lease.observe(outcome, time.monotonic() - started)
        return response

    async def _forward(
        self, request: web.Request, lease: Lease, body: dict[str, Any]
    ) -> web.StreamResponse:
        assert self._http is not None
        model = lease.model
        url = model.rules.url(model.api_endpoint)
        headers = {**model.key_headers(), "Content-Type": "application/json"}
        response: web.StreamResponse | None = None
        try:
            async with self._http.post(url, data=json.dumps(body), headers=headers) as upstream:
                if upstream.status >= 400:
                    text = (await upstream.text())[:500]
                    lease.failure = ModelFailure(
                        _scrub(f"the model answered HTTP {upstream.status}: {text}", model),
                        "model_error",
                    )
                    return web.Response(
                        status=upstream.status, text=text, content_type="application/json"
                    )
                response = web.StreamResponse(status=upstream.status)
                response.content_type = upstream.content_type or "text/event-stream"
                await response.prepare(request)
                watch = StreamWatch()
                async for chunk in upstream.content.iter_any():
                    failure = watch.feed(chunk)
                    if failure is not None and lease.failure is None:
                        lease.failure = failure
                    await response.write(chunk)
                await response.write_eof()
                return response
        except TimeoutError:
            lease.failure = ModelFailure(  # model.yaml timeouts.read: silence is model_timeout
                f"the model sent nothing for {self.read_timeout:g} s", "model_timeout"
            )
            return response if response is not None else _error(504, lease.failure.message)
        except aiohttp.ClientError as exc:
            what = "broke off its answer" if response is not None else "is unreachable"
            lease.failure = ModelFailure(
                _scrub(f"the model endpoint {what}: {type(exc).__name__}", model),
                "model_error" if response is not None else "model_unreachable",
            )
            return response if response is not None else _error(502, lease.failure.message)


class StreamWatch:
    """Reads the ``data:`` lines of a forwarded chat completions stream and names the first
    model failure in it (contract/model.yaml failure_codes): a line that is not JSON, or an
    error object. OpenCode would report either as its own error (code runtime_error)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> ModelFailure | None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                continue
            try:
                item = json.loads(payload)
            except ValueError:
                return ModelFailure("the model sent a malformed chunk", "model_protocol_error")
            if isinstance(item, dict) and item.get("error"):
                return ModelFailure("the model reported an error mid-stream", "model_error")
        return None


def only_enabled_tools(body: dict[str, Any], enabled: tuple[str, ...]) -> dict[str, Any]:
    """The body with only the session's enabled tools declared (contract/model.yaml: the
    model is offered exactly model_config.enabled_tools). OpenCode also declares helpers it
    grants with them (glob, grep, list with read) and its own ``invalid`` tool."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return body
    kept = [t for t in tools if isinstance(t, dict) and _tool_name(t) in enabled]
    trimmed = {**body, "tools": kept}
    if not kept:
        trimmed.pop("tools")
        trimmed.pop("tool_choice", None)
    return trimmed


def _tool_name(declaration: dict[str, Any]) -> object:
    """A declared tool's name: OpenAI chat (``function.name``) or Anthropic (``name``)."""
    return declaration.get("name") or (declaration.get("function") or {}).get("name")


def _scrub(message: str, model: ModelConfig) -> str:
    return message.replace(model.api_key, "***") if model.api_key else message


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "relay_error"}}, status=status)

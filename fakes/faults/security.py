"""Security and observability faults: auth that can be bypassed or hints, leaks, missing
input limits, frame and header injection, tools that leave the workspace, metrics that lie."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from contract import metric_family, resolved_component, status_for
from fakes.confined_tools import ConfinedWorkspaceTools
from fakes.faults.fault import Fault
from fakes.faults.kit import (
    body_of,
    create_body_rewrite,
    json_like,
    on_requests,
    on_responses,
    route,
)
from fakes.runtime import FakeOpenCodeRuntime
from fakes.tools import WorkspaceTools
from fakes.workspace_files import FILE_TOOLS, ToolError
from reference_server.event_log import Event
from reference_server.hooks import StreamFilter
from reference_server.keys import config_key, runtime_key
from reference_server.middleware import REQUEST_ID_HEADER, add_request_id_header, request_id_key
from reference_server.runtime import SessionSpec

UNAUTHORIZED = status_for("createSession", "unauthorized")
METRICS_OK = status_for("getMetrics", "metrics")


# ------------------------------------------------------------------ auth
def _with_token(request: web.Request) -> web.Request:
    secret = request.app[config_key].shared_secret or ""
    return request.clone(headers={**request.headers, "Authorization": f"Bearer {secret}"})


def stream_open(request: web.Request) -> web.Request:
    """The stream route needs no token (as if it were registered outside the auth guard)."""
    if route(request) == "streamSession" and "Authorization" not in request.headers:
        return _with_token(request)
    return request


def token_case_insensitive(request: web.Request) -> web.Request:
    """Compares the token case-insensitively (``token.lower() == secret.lower()``)."""
    secret = request.app[config_key].shared_secret or ""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if secret and scheme == "Bearer" and token != secret and token.lower() == secret.lower():
        return _with_token(request)
    return request


def hint_in_401(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    """Says what was wrong with the credentials."""
    if response.status != UNAUTHORIZED:
        return None
    header = request.headers.get("Authorization")
    reason = "missing bearer token" if not header else "bearer token does not match"
    return json_like(response, {**body_of(response), "error": reason})


def headers_in_errors(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    """Error bodies carry the request's headers 'for debugging' (Authorization included)."""
    if response.status < 400 or response.status == UNAUTHORIZED:
        return None
    try:
        body = body_of(response)
    except ValueError:
        return None
    details = {**body.get("details", {}), "request_headers": dict(request.headers)}
    return json_like(response, {**body, "details": details})


# ------------------------------------------------------------------ input
def truncate_prompts(body: dict[str, Any]) -> None:
    """Silently cuts over-long prompts to the contract's maxLength instead of refusing."""
    schema = resolved_component("CreateSessionRequest")["properties"]
    model_schema = schema["model_config"]["properties"]
    for node, props in ((body, schema), (body.get("model_config", {}), model_schema)):
        for name in ("prompt", "system_prompt"):
            if isinstance(node.get(name), str) and name in props:
                node[name] = node[name][: props[name]["maxLength"]]


def drop_unknown_tools(body: dict[str, Any]) -> None:
    """Silently drops enabled_tools outside the enum instead of refusing."""
    known = resolved_component("Tool")["enum"]
    tools = body["model_config"]["enabled_tools"]
    body["model_config"]["enabled_tools"] = [t for t in tools if t in known]


class RawOutputText(StreamFilter):
    """Writes output events with their JSON escapes of CR and LF undone (raw text)."""

    def frames(self, event: Event) -> list[bytes]:
        if event.event != "output":
            return [event.frame]
        payload = json.dumps(dict(event.data)).replace("\\r", "\r").replace("\\n", "\n")
        return [f"event: {event.event}\nid: {event.id}\ndata: {payload}\n\n".encode()]


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    response.headers[REQUEST_ID_HEADER] = incoming or request.get(request_id_key) or "none"


def echo_raw_request_id(app: web.Application) -> None:
    """Echoes any X-Request-ID as it came."""
    app.on_response_prepare.remove(add_request_id_header)
    app.on_response_prepare.append(_echo_request_id)


# ------------------------------------------------------------------ sandbox
class UnconfinedTools(ConfinedWorkspaceTools):
    """Joins paths to the workspace without resolving or checking them, and runs the file
    tools in the sidecar itself (bash stays confined by the kernel)."""

    def resolve(self, raw: object) -> Path:
        if not isinstance(raw, str) or not raw:
            raise ToolError("filePath must be a non-empty string")
        return self.root / raw

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool in FILE_TOOLS:
            return await WorkspaceTools.run(self, tool, args)
        return await super().run(tool, args)


@dataclass
class LeakyTools(ConfinedWorkspaceTools):
    """bash inherits the sidecar's secrets (``leaked``: its shared secret and the session's
    model key; still kernel-confined)."""

    leaked: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.leaked}


def _fake_runtime(app: web.Application) -> FakeOpenCodeRuntime:
    runtime = app[runtime_key]
    if not isinstance(runtime, FakeOpenCodeRuntime):
        raise SystemExit("this fault needs the fake runtime")
    return runtime


def unconfined_tools(app: web.Application) -> None:
    runtime = _fake_runtime(app)

    def factory(spec: SessionSpec, timeout: float) -> WorkspaceTools:
        return UnconfinedTools(spec.workspace, timeout, sandbox=runtime.sandbox)

    runtime.tools_factory = factory


def leaky_bash(app: web.Application) -> None:
    secret = app[config_key].shared_secret or ""
    runtime = _fake_runtime(app)

    def factory(spec: SessionSpec, timeout: float) -> WorkspaceTools:
        leaked = {"OPENCODE_SHARED_SECRET": secret, "OPENAI_API_KEY": spec.model.api_key}
        return LeakyTools(spec.workspace, timeout, sandbox=runtime.sandbox, leaked=leaked)

    runtime.tools_factory = factory


# ------------------------------------------------------------------ metrics
def drop_heartbeat_family(
    request: web.Request, response: web.Response
) -> web.StreamResponse | None:
    if route(request) != "getMetrics" or response.status != METRICS_OK or response.body is None:
        return None
    name = metric_family("heartbeats_sent").name
    assert isinstance(response.body, bytes)
    kept = [line for line in response.body.split(b"\n") if name.encode() not in line]
    return web.Response(body=b"\n".join(kept), headers={"Content-Type": response.content_type})


def frozen_metrics() -> Middleware:
    """Serves the first scrape forever."""
    first: list[bytes] = []

    def rewrite(request: web.Request, response: web.Response) -> web.StreamResponse | None:
        if route(request) != "getMetrics" or response.status != METRICS_OK:
            return None
        assert isinstance(response.body, bytes)
        if not first:
            first.append(response.body)
        return web.Response(body=first[0], headers={"Content-Type": response.content_type})

    return on_responses(rewrite)


FAULTS = [
    Fault(
        "stream_route_unauthenticated",
        "the stream needs no token",
        catches={"security": ("AUTH-EVERY-ROUTE",)},
        middleware=on_requests(stream_open),
    ),
    Fault(
        "auth_token_case_insensitive",
        "the token is compared case-insensitively",
        catches={"security": ("AUTH-SCHEME",)},
        middleware=on_requests(token_case_insensitive),
    ),
    Fault(
        "auth_hint_in_401",
        "the 401 says whether the token was missing or wrong",
        catches={"security": ("AUTH-NO-HINT",)},
        middleware=on_responses(hint_in_401),
    ),
    Fault(
        "secret_in_error_details",
        "error bodies echo the request headers, Authorization included",
        catches={"security": ("AUTH-SECRET-NEVER-ECHOED",)},
        middleware=on_responses(headers_in_errors),
    ),
    Fault(
        "prompt_truncated_not_refused",
        "over-long prompts are cut to maxLength and accepted",
        catches={"security": ("INPUT-PROMPT-LIMIT",)},
        middleware=create_body_rewrite(truncate_prompts),
    ),
    Fault(
        "unknown_tools_dropped",
        "unknown enabled_tools are dropped and the session accepted",
        catches={"security": ("INPUT-TOOLS-ENUM",)},
        middleware=create_body_rewrite(drop_unknown_tools),
    ),
    Fault(
        "crlf_in_frame",
        "output text is written raw into the data line",
        catches={"security": ("SSE-NO-INJECTION",)},
        stream=RawOutputText,
    ),
    Fault(
        "request_id_echoed_raw",
        "any X-Request-ID is echoed as sent",
        catches={"security": ("REQUEST-ID-SAFE",)},
        patch_app=echo_raw_request_id,
    ),
    Fault(
        "tool_escapes_workspace",
        "file tools join paths without resolving or confining them",
        catches={"security": ("SANDBOX-PATHS", "SANDBOX-LINKS-PEER")},
        patch_app=unconfined_tools,
    ),
    Fault(
        "bash_leaks_env",
        "bash inherits the sidecar's environment and secrets",
        catches={"security": ("SANDBOX-BASH-ENV",)},
        patch_app=leaky_bash,
    ),
    Fault(
        "metrics_missing_family",
        "/metrics lacks the heartbeats family",
        catches={"security": ("METRICS-FAMILIES",)},
        middleware=on_responses(drop_heartbeat_family),
    ),
    Fault(
        "metrics_frozen",
        "/metrics serves its first scrape forever",
        catches={"security": ("METRICS-MOVE", "METRICS-OUTCOMES")},
        middleware=frozen_metrics(),
    ),
]

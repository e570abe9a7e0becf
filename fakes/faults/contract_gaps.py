"""Faults for what the contract used to leave unsaid (issue 32): an edit that picks the
first of several matches, an anthropic /v1 doubled, workspaces that outlive retention;
and a valid variation whose
memory grows in steps and then settles, as a garbage-collected runtime's heap does."""

from __future__ import annotations

import math
import mmap
from dataclasses import replace

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from contract import tool_contract
from fakes.confined_tools import ConfinedWorkspaceTools
from fakes.faults.agent import SpecRewritingRuntime, _tools
from fakes.faults.fault import Fault
from fakes.faults.kit import route
from fakes.faults.sandbox import _fake_runtime
from fakes.tools import WorkspaceTools
from fakes.workspace_files import ToolError
from reference_server.errors import ApiError
from reference_server.keys import store_key
from reference_server.runtime import Runtime, SessionSpec


# ------------------------------------------------------------------ edit uniqueness
class FirstMatchEdit(WorkspaceTools):
    """``edit`` replaces the first occurrence of an ``oldString`` that occurs several times
    (tools.yaml before issue 32; OpenCode's own edit refuses it)."""

    def replace(self, text: str, old: str, new: str, replace_all: object) -> str:
        if old not in text:
            raise ToolError("oldString not found in the file")
        return text.replace(old, new, -1 if replace_all is True else 1)


def edit_first_match(app: web.Application) -> None:
    _tools(app, lambda spec, timeout: FirstMatchEdit(spec.workspace, timeout))


# ------------------------------------------------------------------ endpoint normalisation
def _naive_endpoint(spec: SessionSpec) -> SessionSpec:
    """As a sidecar that appends /v1/messages to whatever base it got: an anthropic
    endpoint that ends in /v1 gets a second one."""
    endpoint = spec.model.api_endpoint or ""
    if spec.model.provider != "anthropic" or not endpoint.rstrip("/").endswith("/v1"):
        return spec
    return replace(spec, model=replace(spec.model, api_endpoint=endpoint.rstrip("/") + "/v1"))


def anthropic_v1_doubled(inner: Runtime) -> Runtime:
    return SpecRewritingRuntime(inner, _naive_endpoint)


# ------------------------------------------------------------------ workspaces past retention
def keep_workspaces(app: web.Application) -> None:
    """Sessions leave retention, their workspace directories stay (disk grows)."""
    setattr(app[store_key], "remove_workspace", lambda *_: None)  # noqa: B010


# ------------------------------------------------------------------ /ws past retention
def ws_upgrade_before_lookup(app: web.Application) -> None:
    """``GET /ws`` checks the upgrade before it looks the session up: a plain GET of a
    session past retention answers 426, not 404 (a middleware inside the reference's own,
    so auth and the error body still apply)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if route(request) == WS_ROUTE and not web.WebSocketResponse().can_prepare(request).ok:
            raise ApiError(WS_ROUTE, "upgrade_required", "websocket upgrade required", {})
        return await handler(request)

    app.middlewares.append(middleware)


WS_ROUTE = "websocketSession"


# ------------------------------------------------------------------ no temporary directory
class NoTmpdirTools(ConfinedWorkspaceTools):
    """Confined bash without TMPDIR (TMP, TEMP): programs reach for the closed /tmp."""

    def environment(self) -> dict[str, str]:
        names = set(tool_contract().sandbox.tmpdir_variables)
        return {k: v for k, v in super().environment().items() if k not in names}


def bash_without_tmpdir(app: web.Application) -> None:
    runtime = _fake_runtime(app)
    runtime.tools_factory = lambda spec, timeout: NoTmpdirTools(
        spec.workspace, timeout, sandbox=runtime.sandbox
    )


# ------------------------------------------------------------------ heap that settles
HEAP_STEP = 2 * 2**20
"""One step of the simulated heap (bytes)."""
HEAP_STEP_EVERY = 40
"""Sessions per step of the working set."""
HEAP_CEILING = 12 * 2**20
"""The working set's steady state: the heap stops growing here."""


class SteppedHeap:
    """A garbage-collected runtime's heap, simulated: each session needs a scratch cache
    that it releases when it ends, and the cache a session needs grows with the sessions
    seen up to :data:`HEAP_CEILING` (a JIT, interned strings, pools warming up); the heap
    reserves pages in steps of :data:`HEAP_STEP` to fit the largest cache, and reuses them
    (never returns them), as V8's reserved heap does. Nothing is kept per session."""

    def __init__(self) -> None:
        self.sessions = 0
        self.pages: list[mmap.mmap] = []

    def session_started(self) -> None:
        self.sessions += 1
        steps = math.ceil(self.sessions / HEAP_STEP_EVERY)
        need = min(HEAP_CEILING, HEAP_STEP * steps)
        while len(self.pages) * HEAP_STEP < need:
            page = mmap.mmap(-1, HEAP_STEP)
            page.write(b"\x01" * HEAP_STEP)  # resident, as a collector's to-space is
            self.pages.append(page)
        for page in self.pages[: need // HEAP_STEP]:  # the scratch cache: used, released
            page.seek(0)
            page.write(b"\x02" * 4096)


def stepped_heap() -> Middleware:
    heap = SteppedHeap()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if route(request) == "createSession" and response.status < 300:
            heap.session_started()
        return response

    return middleware


FAULTS = [
    Fault(
        "edit_first_match",
        "edit replaces the first of several occurrences of oldString instead of refusing",
        catches={"agent": ("AGENT-TOOL-EDIT-UNIQUE",)},
        patch_app=edit_first_match,
    ),
    Fault(
        "anthropic_v1_doubled",
        "an anthropic api_endpoint ending in /v1 gets /v1/messages appended (/v1/v1/messages)",
        catches={"agent": ("AGENT-REQUEST-ENDPOINT",)},
        runtime=anthropic_v1_doubled,
    ),
    Fault(
        "retention_keeps_workspaces",
        "a session past retention answers 404, but its workspace directory stays on disk",
        catches={"retention": ("RETENTION-WORKSPACE",)},
        patch_app=keep_workspaces,
    ),
    Fault(
        "retention_ws_upgrade_first",
        "GET /ws answers 426 before it looks the session up: 426, not 404, past retention",
        catches={"retention": ("RETENTION-EXPIRES",)},
        evidence={"RETENTION-EXPIRES": "websocketSession"},
        patch_app=ws_upgrade_before_lookup,
    ),
    Fault(
        "bash_without_tmpdir",
        "confined bash runs without TMPDIR: mktemp reaches for the closed /tmp and fails",
        catches={"security": ("SANDBOX-BASH-TMPDIR",)},
        patch_app=bash_without_tmpdir,
    ),
    Fault(
        "soak_heap_grows_then_settles",
        "valid: memory grows in 2 MiB steps to 12 MiB over the first sessions, then stays "
        "(a garbage-collected heap reaching its steady state); no session is kept",
        catches={"soak": ()},
        middleware=stepped_heap(),
    ),
]

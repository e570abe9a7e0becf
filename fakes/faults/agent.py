"""Agent faults: what a sidecar asks the model, and what its tools really do (the
``AGENT-*`` clauses of the ``agent`` suite). Each is the reference on the fake runtime with
one thing wrong: a wrapper that rewrites the session spec or keeps working after a cancel,
a swapped declaration of the tools, or tools whose semantics or bounds are off."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from fakes.faults.fault import Fault
from fakes.faults.kit import DelegatingRuntime
from fakes.faults.rest import WrappedRuntime
from fakes.faults.security import _fake_runtime
from fakes.runtime import FakeOpenCodeRuntime
from fakes.tools import WorkspaceTools, tool_definitions
from reference_server.runtime import (
    EventSink,
    RunResult,
    Runtime,
    RuntimeFailure,
    SessionSpec,
)

ALL_TOOLS = ("read", "write", "edit", "bash")


# ------------------------------------------------------------------ what the model is asked
@dataclass
class SpecRewritingRuntime(DelegatingRuntime):
    """Runs every session with its spec rewritten (a sidecar that mangles model_config)."""

    rewrite: Callable[[SessionSpec], SessionSpec]

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        return await self.inner.run(self.rewrite(spec), sink)


def first_key_for_all(inner: Runtime) -> Runtime:
    """Caches the first session's api_key and sends it for every later session."""
    keys: list[str] = []

    def rewrite(spec: SessionSpec) -> SessionSpec:
        keys.append(spec.model.api_key)
        return replace(spec, model=replace(spec.model, api_key=keys[0]))

    return SpecRewritingRuntime(inner, rewrite)


def settings_dropped(inner: Runtime) -> Runtime:
    """Sends neither temperature nor max_tokens (the model's defaults apply)."""
    return SpecRewritingRuntime(
        inner, lambda s: replace(s, model=replace(s.model, temperature=None, max_tokens=None))
    )


def system_prompt_dropped(inner: Runtime) -> Runtime:
    """Never sends a system prompt."""
    return SpecRewritingRuntime(
        inner, lambda s: replace(s, system_prompt=None, model=replace(s.model, system_prompt=None))
    )


def declare_every_tool(app: web.Application) -> None:
    """Offers the model every tool, whatever the session enabled (calls are still refused)."""
    _fake_runtime(app).declarations = lambda enabled: tool_definitions(ALL_TOOLS)


def run_disabled_tools(app: web.Application) -> None:
    """Runs a call to any tool, enabled or not."""
    _fake_runtime(app).refuse_disabled = False


# ------------------------------------------------------------------ what the tools do
class NoOpEdit(WorkspaceTools):
    """``edit`` reports success and changes nothing."""

    def _edit(self, args: Mapping[str, Any]) -> str:
        path = self.resolve(args.get("filePath"))
        self._touched(path)
        return f"edited {path.relative_to(self.root)}"


class FatalMissingFile(WorkspaceTools):
    """A read of a missing file ends the session instead of being a tool error."""

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool == "read" and not self.resolve(args.get("filePath")).exists():
            raise RuntimeFailure(f"read failed: {args.get('filePath')} is missing")
        return await super().run(tool, args)


@dataclass
class CancelSurvivingTools(WorkspaceTools):
    """A bash command running when the session is cancelled is left running."""

    spared: list[int] = field(default_factory=list)

    @staticmethod
    def _cancelling() -> bool:
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        if self._cancelling():
            self.spared.append(process.pid)
            return
        await super()._reap(process)

    def kill(self) -> None:
        if not self._cancelling():
            super().kill()


def _tools(app: web.Application, make: Callable[[SessionSpec, float], WorkspaceTools]) -> None:
    runtime: FakeOpenCodeRuntime = _fake_runtime(app)
    runtime.tools_factory = make


def edit_is_noop(app: web.Application) -> None:
    _tools(app, lambda spec, timeout: NoOpEdit(spec.workspace, timeout))


def missing_file_is_fatal(app: web.Application) -> None:
    _tools(app, lambda spec, timeout: FatalMissingFile(spec.workspace, timeout))


def bash_without_timeout(app: web.Application) -> None:
    _tools(app, lambda spec, timeout: WorkspaceTools(spec.workspace, 3600.0))


def bash_survives_cancel(app: web.Application) -> None:
    _tools(app, lambda spec, timeout: CancelSurvivingTools(spec.workspace, timeout))


def _elsewhere(spec: SessionSpec, timeout: float) -> WorkspaceTools:
    root = Path(tempfile.gettempdir()) / "opencode-sidecar-elsewhere" / spec.session_id
    root.mkdir(parents=True, exist_ok=True)
    return WorkspaceTools(root, timeout)


def tools_work_elsewhere(app: web.Application) -> None:
    """The tools work in a directory of their own, not WORKSPACE_DIR/<session_id>."""
    _tools(app, _elsewhere)


# ------------------------------------------------------------------ model faults and cancel
def malformed_stream_completes(inner: Runtime) -> Runtime:
    """A malformed model stream ends the session as completed."""

    def on_failure(failure: RuntimeFailure) -> RunResult:
        if failure.code != "model_protocol_error":
            raise failure
        return RunResult("the model said something I could not read")

    return WrappedRuntime(inner, on_failure=on_failure)


@dataclass
class DetachedRuntime(DelegatingRuntime):
    """Cancelling a session only cancels the wait: its agent loop runs on (model and bash)."""

    running: set[asyncio.Task[RunResult]] = field(default_factory=set)

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        task = asyncio.ensure_future(self.inner.run(spec, sink))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return await asyncio.shield(task)


FAULTS = [
    Fault(
        "model_key_shared",
        "every session's model requests carry the first session's api_key",
        catches={"agent": ("AGENT-REQUEST-KEY",)},
        evidence={"AGENT-REQUEST-KEY": "header Authorization: must carry the session's api_key"},
        runtime=first_key_for_all,
    ),
    Fault(
        "model_settings_dropped",
        "temperature and max_tokens are not sent to the model",
        catches={"agent": ("AGENT-REQUEST-SETTINGS",)},
        evidence={"AGENT-REQUEST-SETTINGS": "field temperature"},
        runtime=settings_dropped,
    ),
    Fault(
        "system_prompt_dropped",
        "the system prompt never reaches the model",
        catches={"agent": ("AGENT-REQUEST-PROMPTS",)},
        evidence={"AGENT-REQUEST-PROMPTS": "system text"},
        runtime=system_prompt_dropped,
    ),
    Fault(
        "tools_all_declared",
        "every tool is declared to the model, whatever the session enabled",
        catches={"agent": ("AGENT-REQUEST-TOOLS",)},
        evidence={"AGENT-REQUEST-TOOLS": "enabled ['read']"},
        patch_app=declare_every_tool,
    ),
    Fault(
        "disabled_tools_run",
        "a call to a tool the session did not enable runs",
        catches={"agent": ("AGENT-TOOL-NOT-ENABLED",)},
        evidence={"AGENT-TOOL-NOT-ENABLED": "forbidden.txt"},
        patch_app=run_disabled_tools,
    ),
    Fault(
        "edit_noop",
        "edit reports success and changes nothing",
        # (an ambiguous edit "succeeds" too: AGENT-TOOL-EDIT-UNIQUE)
        catches={"agent": ("AGENT-TOOL-SEMANTICS", "AGENT-TOOL-DISK", "AGENT-TOOL-EDIT-UNIQUE")},
        evidence={"AGENT-TOOL-SEMANTICS": "read after edit", "AGENT-TOOL-DISK": "notes.txt"},
        patch_app=edit_is_noop,
    ),
    Fault(
        "tools_work_elsewhere",
        "the tools work outside WORKSPACE_DIR/<session_id> (consistent over the wire)",
        catches={"agent": ("AGENT-TOOL-DISK",)},
        evidence={"AGENT-TOOL-DISK": "missing"},
        patch_app=tools_work_elsewhere,
    ),
    Fault(
        "tool_error_fatal",
        "a read of a missing file ends the session",
        catches={"agent": ("AGENT-TOOL-ERROR",)},
        evidence={"AGENT-TOOL-ERROR": "tools.yaml's error result"},
        patch_app=missing_file_is_fatal,
    ),
    Fault(
        "bash_no_timeout",
        "bash runs without the configured timeout",
        catches={"agent": ("AGENT-BASH-TIMEOUT",)},
        evidence={"AGENT-BASH-TIMEOUT": "after a bash timeout the session must go on"},
        patch_app=bash_without_timeout,
    ),
    Fault(
        "malformed_stream_completes",
        "a malformed model stream ends the session as completed",
        catches={"agent": ("AGENT-MODEL-FAULT",)},
        evidence={"AGENT-MODEL-FAULT": "malformed_stream"},
        runtime=malformed_stream_completes,
    ),
    Fault(
        "cancel_keeps_working",
        "cancel ends the session but its agent loop runs on (model requests, bash)",
        catches={"agent": ("AGENT-CANCEL-STOPS-MODEL", "AGENT-CANCEL-KILLS-BASH")},
        evidence={"AGENT-CANCEL-STOPS-MODEL": "request(s), at +"},
        runtime=DetachedRuntime,
    ),
    Fault(
        "bash_survives_cancel",
        "a bash command running at cancel is left running",
        catches={"agent": ("AGENT-CANCEL-KILLS-BASH",)},
        evidence={"AGENT-CANCEL-KILLS-BASH": "cancel_late.txt"},
        patch_app=bash_survives_cancel,
    ),
]

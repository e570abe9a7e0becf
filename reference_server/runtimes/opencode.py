"""The real OpenCode runtime: each session runs on its own ``opencode serve`` child.

Per session: lease a model slot from the :class:`ModelRelay` (the session's model config
stays in the sidecar), start an ``opencode serve`` confined by the kernel (Landlock, through
the sandbox launcher) to the session workspace and its own state directory, create an
OpenCode session whose directory is the workspace, send the prompt with the session's
system prompt and tool switches (``prompt_async``), and translate OpenCode's events until
the session is idle. Cancelling the task aborts the OpenCode session; the child is stopped
and its state removed when the session ends.

Why one child per session (and not one shared child plus a confining shell for bash):
OpenCode's own ``external_directory`` check is lexical, so its file tools follow links, and
a domain shared by every session cannot keep one session's ``read`` out of another's
workspace. Only a child per session lets the kernel confine the file tools and ``bash``
(which inherits the child's domain with everything it starts) to one workspace. The cost,
measured by ``benchmarks/opencode_confinement.py``: one OpenCode process per running
session (its RSS) and its start-up before the first event of each session. With
``SANDBOX=off`` (or no Landlock under ``best-effort``) the children run unconfined, with
OpenCode's permissions (``external_directory: deny``) as the only boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.runtime import EventSink, RunResult, RuntimeFailure, SessionSpec
from reference_server.runtimes.model_relay import (
    ANTHROPIC_PROVIDER_ID,
    PROVIDER_ID,
    Lease,
    ModelRelay,
)
from reference_server.runtimes.opencode_events import Outcome, SessionTranslator
from reference_server.runtimes.opencode_process import (
    OpenCodeProcess,
    ProcessExited,
    SessionChannel,
)
from reference_server.runtimes.workspace_processes import kill_processes_in
from reference_server.sandbox import Sandbox

log = logging.getLogger("reference_server.runtimes.opencode")

TOOL_GRANTS: dict[str, tuple[str, ...]] = {
    "read": ("read", "glob", "grep", "list"),
    "write": ("write",),
    "edit": ("edit", "apply_patch", "patch"),
    "bash": ("bash",),
}
"""Contract tool name -> the OpenCode tools it switches on. Every other tool is off."""

PERMISSIONS: dict[str, str] = {
    "read": "allow",
    "edit": "allow",
    "glob": "allow",
    "grep": "allow",
    "list": "allow",
    "bash": "allow",
    "todowrite": "allow",
    "external_directory": "deny",
    "question": "deny",
    "task": "deny",
    "webfetch": "deny",
    "websearch": "deny",
    "skill": "deny",
    "doom_loop": "deny",
}


SYSTEM_FOR_OPENCODE = (Path("/proc"), Path("/sys"))
"""Read-only beyond the sandbox's system part: the OpenCode binary (bun) reads its own
``/proc/self`` (maps, cgroup, stat) and ``/sys`` CPU topology. Other processes' ``environ``
stays refused: Landlock denies ptrace-class access to processes outside the domain."""


@dataclass(frozen=True)
class OpenCodeSettings:
    """What the runtime needs; built once by the composition root."""

    binary: Path
    state_dir: Path
    slots: int = 5
    model_read_timeout: float = 30.0
    startup_timeout: float = 60.0
    abort_timeout: float = 5.0
    bash_timeout: float = 30.0
    """BASH_TIMEOUT: OpenCode's default bash timeout (its own setting, in ms)."""

    def environment(self) -> dict[str, str]:
        """OpenCode's settings that only its environment carries."""
        return {"OPENCODE_EXPERIMENTAL_BASH_DEFAULT_TIMEOUT_MS": str(int(self.bash_timeout * 1000))}

    sandbox: Sandbox | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    """The server's environment (the composition root's); OpenCode gets ``ENV_PASSED`` of it."""


def opencode_config(relay: ModelRelay) -> dict[str, Any]:
    """OpenCode's whole configuration, written once before it starts."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "snapshot": False,
        "lsp": False,
        "formatter": False,
        "enabled_providers": [PROVIDER_ID, ANTHROPIC_PROVIDER_ID],
        "permission": PERMISSIONS,
        "provider": relay.provider_config(),
    }


class OpenCodeRuntime:
    """Implements :class:`reference_server.runtime.Runtime` on ``opencode serve``."""

    name = "opencode"
    gates_tools = False
    """OpenCode runs its tools itself: no call reaches ``sink.authorize`` yet (left for the
    shared ``opencode serve`` whose tools call out to the sidecar; STREAM_RULES.md#permissions)."""

    def __init__(self, settings: OpenCodeSettings) -> None:
        self.settings = settings
        self.sandbox = settings.sandbox
        self.relay = ModelRelay(max(1, settings.slots) * 2, settings.model_read_timeout)
        self._tool_ids: list[str] = []
        self._started = False

    def process_for(self, name: str, workspace: Path) -> OpenCodeProcess:
        """A child for one session (or the start-up probe), confined to ``workspace`` and
        its own state directory."""
        state = self.settings.state_dir / name
        sandbox = self.settings.sandbox

        def launch(argv: list[str]) -> list[str]:
            if sandbox is None:
                return argv
            read_only = [self.settings.binary.resolve(), *SYSTEM_FOR_OPENCODE]
            return sandbox.command(argv, read_write=[workspace, state], read_only=read_only)

        return OpenCodeProcess(
            self.settings.binary,
            state,
            opencode_config(self.relay),
            self.settings.startup_timeout,
            environ=self.settings.environ,
            settings_env=self.settings.environment(),
            launch=launch,
        )

    async def start(self) -> None:
        """Start the relay and one probe child: a binary that cannot run (or cannot run
        confined) stops the sidecar's start-up with OpenCode's own words."""
        await self.relay.start()
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.settings.state_dir.iterdir():  # left by a sidecar killed with -9
            shutil.rmtree(stale, ignore_errors=True)
        probe_dir = self.settings.state_dir / "probe-workspace"
        probe_dir.mkdir(exist_ok=True)
        probe = self.process_for("probe", probe_dir)
        try:
            await probe.start()
            self._tool_ids = await probe.tool_ids(probe_dir)
        except TimeoutError:
            raise RuntimeError(
                f"opencode serve did not connect within {self.settings.startup_timeout:g} s"
            ) from None
        finally:
            await probe.close()
            shutil.rmtree(probe.state_dir, ignore_errors=True)
        self._started = True

    async def close(self) -> None:
        await self.relay.close()

    def not_ready_reason(self) -> str | None:
        return None if self._started else "runtime not started"

    def tool_switches(self, enabled: tuple[str, ...]) -> dict[str, bool]:
        granted = {tool for name in enabled for tool in TOOL_GRANTS.get(name, (name,))}
        return {tool: tool in granted for tool in self._tool_ids if tool != "invalid"}

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        if not self._started:
            raise RuntimeFailure("the OpenCode runtime is not started", "runtime_error")
        process = self.process_for(spec.session_id, spec.workspace)
        try:
            await asyncio.shield(process.start())
        except (RuntimeError, TimeoutError, OSError) as exc:
            await asyncio.shield(self._stop(process))
            raise RuntimeFailure(f"opencode did not start: {exc}", "runtime_error") from None
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(process))
            raise
        try:
            return await self._run_on(process, spec, sink)
        finally:
            await asyncio.shield(self._stop(process))

    async def _stop(self, process: OpenCodeProcess) -> None:
        await process.close()
        shutil.rmtree(process.state_dir, ignore_errors=True)

    async def _run_on(
        self, process: OpenCodeProcess, spec: SessionSpec, sink: EventSink
    ) -> RunResult:
        lease = self.relay.lease(spec.model, spec.session_id, sink.model_call, spec.history)
        channel: SessionChannel | None = None
        before = _snapshot(spec.workspace)
        try:
            try:
                channel = await process.create_session(spec.workspace, spec.session_id)
                await process.prompt(channel, self._prompt(spec, lease))
            except RuntimeError as exc:
                raise RuntimeFailure(f"opencode refused the session: {exc}") from None
            translator = SessionTranslator(sink, spec.workspace)
            outcome = await self._follow(channel, translator)
            if outcome.kind != "idle" or lease.failure is not None:
                await self._best_effort(process.abort(channel))
                raise self._failure(outcome, lease)
            files = [*translator.files, *_changed(before, _snapshot(spec.workspace))]
            return RunResult(translator.final_text, tuple(dict.fromkeys(files)))
        except asyncio.CancelledError:
            kill_processes_in(spec.workspace)  # a running bash command dies with the session
            if channel is not None:
                await asyncio.shield(self._best_effort(process.abort(channel)))
            raise
        finally:
            kill_processes_in(spec.workspace)
            if channel is not None:
                process.forget(channel)
            self.relay.release(lease)

    def _prompt(self, spec: SessionSpec, lease: Lease) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": {"providerID": relay_provider(spec), "modelID": lease.slot},
            "parts": [{"type": "text", "text": spec.prompt}],
            "tools": self.tool_switches(spec.model.enabled_tools),
        }
        if spec.effective_system_prompt:
            body["system"] = spec.effective_system_prompt
        return body

    @staticmethod
    async def _follow(channel: SessionChannel, translator: SessionTranslator) -> Outcome:
        while True:
            item = await channel.queue.get()
            if isinstance(item, ProcessExited):
                raise RuntimeFailure(item.reason, "runtime_error")
            outcome = translator.feed(*item)
            if outcome is not None:
                return outcome

    async def _best_effort(self, call: Awaitable[None]) -> None:
        """Clean-up calls to OpenCode: bounded, and never the cause of a session's end."""
        with contextlib.suppress(RuntimeError, asyncio.TimeoutError, OSError):
            await asyncio.wait_for(call, self.settings.abort_timeout)

    @staticmethod
    def _failure(outcome: Outcome, lease: Lease) -> RuntimeFailure:
        if lease.failure is not None:
            return RuntimeFailure(lease.failure.message, lease.failure.code)
        if outcome.kind == "retry":
            return RuntimeFailure(f"the model call failed: {outcome.message}", "model_error")
        name = outcome.error_name or "error"
        return RuntimeFailure(f"opencode {name}: {outcome.message}"[:500], "runtime_error")


def relay_provider(spec: SessionSpec) -> str:
    """The relay provider OpenCode uses for this session: the Messages API face for
    provider anthropic (contract/model.yaml), the OpenAI-compatible one otherwise."""
    anthropic = spec.model.rules.api.name == "anthropic_messages"
    return ANTHROPIC_PROVIDER_ID if anthropic else PROVIDER_ID


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (mtime_ns, size) of every regular file under ``root``."""
    files: dict[str, tuple[int, int]] = {}
    for path in sorted(root.rglob("*")):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                files[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return files


def _changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return [path for path, sig in after.items() if before.get(path) != sig]

"""The real OpenCode runtime: one shared ``opencode serve`` runs every session; each tool
call runs in the sidecar, confined by the kernel to its session's workspace.

Per session: lease a model slot from the :class:`ModelRelay` (the session's model config
stays in the sidecar), create an OpenCode session, attach it to the :class:`ToolBridge`
(which knows the session's workspace), send the prompt with the session's system prompt
and tool switches (``prompt_async``), and translate OpenCode's events until the session is
idle. Cancelling the task aborts the OpenCode session. When the session ends, its OpenCode
session is deleted, so OpenCode's memory stays bounded over a long run.

Every OpenCode session works in one neutral directory (:attr:`OpenCodeRuntime.directory`),
not in its workspace: OpenCode bootstraps an instance per directory (config, tool
registry, project) and that cost 2-5 s before the first tool call of each session in a
new directory against 0.4-0.8 s in a warm one (measured with the bare OpenCode, load ~12
on 2 cores). Nothing of OpenCode's touches that directory (every tool runs in the
bridge); the bridge takes paths under it as paths of the session's workspace (a model
that composes absolute paths from OpenCode's "working directory" still lands in its own
workspace), and runs ``bash`` in the workspace.

Why one shared OpenCode (and no longer one confined child per session): a child per
session cost one OpenCode start-up (~5 s alone, far more when five start together on two
cores) before each session's first event and ~600 MiB per running session (issue 35:
3.3 GiB for 5 sessions against 0.85 GiB for one OpenCode). Confinement stays per tool
call: OpenCode's tools that reach the disk are replaced by custom tools that hand each
call to the sidecar (``tool_bridge.py``), which runs it through the sandbox launcher like
the fake runtime does, so OpenCode's own process never executes a tool for a session.
OpenCode itself runs confined too (its state directory read-write, its binary and the
system read-only, no workspace): defence in depth should one of its tools slip through.
It is supervised (``opencode_supervisor.py``): a death or a wedge ends the sessions
running on it with a ``runtime_error`` and restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from reference_server.runtimes.opencode_supervisor import OpenCodeSupervisor, wipe
from reference_server.runtimes.tool_bridge import ToolBridge, ToolGate
from reference_server.runtimes.workspace_processes import kill_processes_in
from reference_server.sandbox import Sandbox

log = logging.getLogger("reference_server.runtimes.opencode")


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
    """BASH_TIMEOUT: how long the bridge lets a bash command run."""
    bash_output_cap: int = 65536
    """BASH_OUTPUT_CAP: bytes of a bash command's output kept."""
    probe_interval: float = 2.0
    """OPENCODE_PROBE_INTERVAL: seconds between two health probes of the shared OpenCode."""
    wedge_timeout: float = 15.0
    """OPENCODE_WEDGE_TIMEOUT: seconds without an answer after which it is restarted."""
    restart_delay: float = 0.5
    """Seconds before a restart (doubled after each failed start, up to a minute)."""
    sandbox: Sandbox | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    """The server's environment (the composition root's); OpenCode gets ``ENV_PASSED`` of it."""
    tool_gate: ToolGate | None = None
    """Asked before each tool call (a permission gate); ``None``: every enabled call runs."""


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
    """Implements :class:`reference_server.runtime.Runtime` on one shared ``opencode serve``."""

    name = "opencode"
    gates_tools = True
    """OpenCode's disk tools call out to the sidecar (the tool bridge), which asks the
    session's permission gate (``sink.authorize``) before each call runs."""

    def __init__(self, settings: OpenCodeSettings) -> None:
        self.settings = settings
        self.sandbox = settings.sandbox
        self.relay = ModelRelay(max(1, settings.slots) * 2, settings.model_read_timeout)
        self.directory = settings.state_dir / "workspace"
        """The one directory every OpenCode session works in (empty; see the docstring)."""
        self.bridge = ToolBridge(
            settings.sandbox,
            settings.bash_timeout,
            settings.bash_output_cap,
            self.directory,
            settings.tool_gate,
        )
        self.supervisor = OpenCodeSupervisor(
            self.new_process,
            settings.probe_interval,
            settings.wedge_timeout,
            settings.restart_delay,
        )
        self._tool_ids: list[str] = []
        self._started = False
        self._cleanups: set[asyncio.Future[None]] = set()

    def new_process(self) -> OpenCodeProcess:
        """The shared child, confined (when the sandbox confines) to its own state
        directory and the neutral directory: no workspace, since every tool call runs in
        the sidecar."""
        state = self.settings.state_dir / "opencode"
        sandbox = self.settings.sandbox

        def launch(argv: list[str]) -> list[str]:
            if sandbox is None:
                return argv
            read_only = [self.settings.binary.resolve(), *SYSTEM_FOR_OPENCODE]
            return sandbox.command(argv, read_write=[state, self.directory], read_only=read_only)

        return OpenCodeProcess(
            self.settings.binary,
            state,
            opencode_config(self.relay),
            self.settings.startup_timeout,
            environ=self.settings.environ,
            launch=launch,
            config_files=self.bridge.files(),
        )

    async def start(self) -> None:
        """Start the relay, the bridge and the shared OpenCode; a binary that cannot run
        (or cannot run confined) stops the sidecar's start-up with OpenCode's own words."""
        await self.relay.start()
        await self.bridge.start()
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        wipe(self.settings.state_dir)  # left by a sidecar killed with -9
        self.directory.mkdir()
        try:
            await self.supervisor.start()
        except TimeoutError:
            raise RuntimeError(
                f"opencode serve did not connect within {self.settings.startup_timeout:g} s"
            ) from None
        process = await self.supervisor.ready_process(self.settings.startup_timeout)
        self._tool_ids = await process.tool_ids(self.directory)  # the instance, warmed
        self._started = True

    async def close(self) -> None:
        await self.supervisor.close()
        await self.bridge.close()
        await self.relay.close()

    def not_ready_reason(self) -> str | None:
        if not self._started:
            return "runtime not started"
        return self.supervisor.not_ready_reason()

    def tool_switches(self, enabled: tuple[str, ...]) -> dict[str, bool]:
        """Exactly the session's enabled contract tools on; every other tool off."""
        return {tool: tool in enabled for tool in self._tool_ids if tool != "invalid"}

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        if not self._started:
            raise RuntimeFailure("the OpenCode runtime is not started", "runtime_error")
        try:
            process = await self.supervisor.ready_process(self.settings.startup_timeout)
        except TimeoutError:
            reason = self.supervisor.not_ready_reason() or "opencode is not answering"
            raise RuntimeFailure(reason, "runtime_error") from None
        return await self._run_on(process, spec, sink)

    async def _run_on(
        self, process: OpenCodeProcess, spec: SessionSpec, sink: EventSink
    ) -> RunResult:
        lease = self.relay.lease(spec.model, spec.session_id, sink.model_call, spec.history)
        channel: SessionChannel | None = None
        before = _snapshot(spec.workspace)
        try:
            try:
                channel = await process.create_session(self.directory, spec.session_id)
                translator = SessionTranslator(sink, spec.workspace)
                bridged = self.bridge.attach(channel.session_id, spec, sink, translator.announce)
                await process.prompt(channel, self._prompt(spec, lease))
            except RuntimeError as exc:
                raise RuntimeFailure(f"opencode refused the session: {exc}") from None
            outcome = await self._follow(channel, translator)
            if outcome.kind != "idle" or lease.failure is not None:
                await self._best_effort(process.abort(channel))
                raise self._failure(outcome, lease)
            after = _snapshot(spec.workspace)
            files = [*translator.files, *bridged.tools.modified, *_changed(before, after)]
            return RunResult(translator.final_text, tuple(dict.fromkeys(files)))
        except asyncio.CancelledError:
            kill_processes_in(spec.workspace)  # a running bash command dies with the session
            if channel is not None:
                await asyncio.shield(self._best_effort(process.abort(channel)))
            raise
        finally:
            if channel is not None:
                self.bridge.detach(channel.session_id)
            kill_processes_in(spec.workspace)
            if channel is not None:
                process.forget(channel)
                cleanup = asyncio.ensure_future(self._forget(process, channel))
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(self._cleanups.discard)
            self.relay.release(lease)

    async def _forget(self, process: OpenCodeProcess, channel: SessionChannel) -> None:
        """Delete the finished OpenCode session, so a long run keeps OpenCode's memory
        bounded (best effort, after the session's end)."""
        await self._best_effort(process.delete(channel))

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

"""The real OpenCode runtime: sessions run on one ``opencode serve`` child process.

Per session: lease a model slot from the :class:`ModelRelay` (the session's model config
stays in the sidecar), create an OpenCode session whose directory is the session
workspace, send the prompt with the session's system prompt and tool switches
(``prompt_async``), and translate OpenCode's events until the session is idle. Cancelling
the task aborts the OpenCode session.

Confinement: OpenCode's ``external_directory`` permission is ``deny``, so its file tools
refuse paths outside the session directory; ``question``, ``task``, ``webfetch`` and
``websearch`` are denied (nobody can answer a question in a sidecar). What OpenCode
cannot confine: ``bash`` runs with the sidecar's user rights, so a command may read or
write outside the workspace; the pod's filesystem permissions are the boundary there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
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

    def __init__(self, settings: OpenCodeSettings) -> None:
        self.settings = settings
        self.relay = ModelRelay(max(1, settings.slots) * 2, settings.model_read_timeout)
        self._process: OpenCodeProcess | None = None
        self._tool_ids: list[str] = []

    async def start(self) -> None:
        await self.relay.start()
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._process = OpenCodeProcess(
            self.settings.binary,
            self.settings.state_dir,
            opencode_config(self.relay),
            self.settings.startup_timeout,
            settings_env=self.settings.environment(),
        )
        await self._process.start()
        try:
            self._tool_ids = await self._process.tool_ids(self.settings.state_dir / "run")
        except RuntimeError:
            log.warning("could not list OpenCode's tools; relying on its permissions")

    async def close(self) -> None:
        if self._process is not None:
            await self._process.close()
        await self.relay.close()

    def not_ready_reason(self) -> str | None:
        if self._process is None:
            return "runtime not started"
        return self._process.not_ready_reason()

    def tool_switches(self, enabled: tuple[str, ...]) -> dict[str, bool]:
        granted = {tool for name in enabled for tool in TOOL_GRANTS.get(name, (name,))}
        return {tool: tool in granted for tool in self._tool_ids if tool != "invalid"}

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        process = self._process
        if process is None:
            raise RuntimeFailure("the OpenCode runtime is not started", "runtime_error")
        lease = self.relay.lease(spec.model)
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
                await asyncio.shield(self._best_effort(process.dispose(channel)))
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

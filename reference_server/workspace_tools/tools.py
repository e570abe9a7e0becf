"""``bash`` and the file tools as a runtime calls them, confined by path checks to the
session's workspace.

Every path is resolved against the workspace; ``..`` escapes, absolute paths outside it,
symlinks that point out, and hard links to files elsewhere are refused with a tool error
and never executed. ``bash`` runs with a timeout, an output cap and a minimal environment
(none of the sidecar's secrets). Where each call runs (the sandbox launcher, a confined
child) is :class:`~reference_server.workspace_tools.confined.ConfinedWorkspaceTools`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import tool_contract
from reference_server.workspace_tools.files import ToolError, WorkspaceFiles

OUTPUT_CAP = tool_contract().bash.output_cap_bytes
BASH_TIMEOUT = tool_contract().bash.timeout_seconds


def capped(output: bytes, cap: int) -> str:
    """bash output cut at ``cap`` bytes (tools.yaml bash.output_cap_bytes), saying so."""
    text = output[:cap].decode("utf-8", "replace")
    if len(output) > cap:
        text += f"\n[output truncated at {cap} bytes]"
    return text


@dataclass
class WorkspaceTools(WorkspaceFiles):
    """The file tools and ``bash``, as the runtime calls them."""

    bash_timeout: float = BASH_TIMEOUT
    output_cap: int = OUTPUT_CAP

    def __post_init__(self) -> None:
        super().__post_init__()
        self._process: asyncio.subprocess.Process | None = None

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool == "bash":
            return await self._bash(args.get("command"))
        return self.run_file_tool(tool, args)

    def environment(self) -> dict[str, str]:
        """The whole environment of ``bash``: built from nothing, so none of the sidecar's
        variables (``OPENCODE_SHARED_SECRET``, provider api keys) can reach a command."""
        tmp = str(self.tmpdir)
        base = {"PATH": os.defpath + ":/usr/local/bin", "HOME": str(self.root), "LANG": "C.UTF-8"}
        return base | dict.fromkeys(tool_contract().sandbox.tmpdir_variables, tmp)

    @property
    def tmpdir(self) -> Path:
        """The session's temporary directory, inside its workspace (tools.yaml
        ``sandbox.tmpdir``: ``/tmp`` is closed to confined commands); made before each
        command and removed after it when the command left it empty."""
        return self.root / tool_contract().sandbox.fake_tmpdir

    def shell_argv(self, command: str) -> list[str]:
        """How ``bash`` runs ``command`` (the confined tools prefix the sandbox launcher)."""
        return ["/bin/sh", "-c", command]

    async def _bash(self, command: object) -> str:
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        env = self.environment()
        self.tmpdir.mkdir(exist_ok=True)
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *self.shell_argv(command),
                cwd=self.root,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        )
        try:
            process = await asyncio.shield(spawn)
        except asyncio.CancelledError:  # cancelled while spawning: finish, then reap
            self._process = await spawn
            await self._reap(self._process)
            raise
        self._process = process
        try:
            async with asyncio.timeout(self.bash_timeout):
                output, _ = await process.communicate()
        except TimeoutError:
            await self._reap(process)
            raise ToolError(f"command timed out after {self.bash_timeout:g} s") from None
        except asyncio.CancelledError:
            await self._reap(process)
            raise
        finally:
            self._process = None
            with contextlib.suppress(OSError):
                self.tmpdir.rmdir()  # gone again unless the command left files there
        text = capped(output, self.output_cap)
        if process.returncode:
            raise ToolError(f"exit code {process.returncode}: {text}")
        return text

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        """Kill the command's process group and wait for it (no zombie, no open pipe)."""
        self._process = process
        self.kill()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(process.wait())

    def kill(self) -> None:
        """Kill a running command and its process group (on cancellation)."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, 9)  # the command and everything it started
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # in case it was killed before it became a group leader

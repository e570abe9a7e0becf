"""Tools of the fake OpenCode runtime, confined to the session's workspace.

Every path is resolved against the workspace; ``..`` escapes, absolute paths outside it,
symlinks that point out, and hard links to files elsewhere are refused with a tool error
and never executed. ``bash`` runs with a timeout, an output cap and a minimal environment
(none of the sidecar's secrets).
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

READ_CAP = 256 * 1024
OUTPUT_CAP = tool_contract().bash.output_cap_bytes
BASH_TIMEOUT = tool_contract().bash.timeout_seconds


def tool_definitions(enabled: tuple[str, ...]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` for the enabled tools: the contract's declarations (tools.yaml)."""
    return tool_contract().openai_declarations(enabled)


def success_result(output: str) -> dict[str, Any]:
    """A ``tool_result.result`` of a tool that did its work (tools.yaml results.success)."""
    return {"output": output}


def error_result(message: str) -> dict[str, Any]:
    """The one failed ``tool_result.result`` of every tool (tools.yaml results.error)."""
    return {"error": message or "the tool failed"}


def replace_text(text: str, old: str, new: str, replace_all: object) -> str:
    """``edit``'s semantics (tools.yaml): the first occurrence, or every one with replaceAll."""
    if old not in text:
        raise ToolError("oldString not found in the file")
    return text.replace(old, new) if replace_all is True else text.replace(old, new, 1)


def capped(output: bytes, cap: int) -> str:
    """bash output cut at ``cap`` bytes (tools.yaml bash.output_cap_bytes), saying so."""
    text = output[:cap].decode("utf-8", "replace")
    if len(output) > cap:
        text += f"\n[output truncated at {cap} bytes]"
    return text


class ToolError(Exception):
    """The tool refused or failed; reported to the model, not fatal to the session."""


@dataclass
class WorkspaceTools:
    root: Path
    bash_timeout: float = BASH_TIMEOUT
    output_cap: int = OUTPUT_CAP

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.modified: list[str] = []
        self._process: asyncio.subprocess.Process | None = None

    def resolve(self, raw: object) -> Path:
        if not isinstance(raw, str) or not raw:
            raise ToolError("filePath must be a non-empty string")
        candidate = Path(raw)
        path = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if not path.is_relative_to(self.root):
            raise ToolError(f"{raw} is outside the workspace")
        if path.is_file() and path.stat().st_nlink > 1:
            # Another name of this file may lie outside the workspace: neither read nor write.
            raise ToolError(f"{raw} is a hard link; refusing to use it")
        return path

    def _touched(self, path: Path) -> None:
        relative = str(path.relative_to(self.root))
        if relative not in self.modified:
            self.modified.append(relative)

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool == "read":
            path = self.resolve(args.get("filePath"))
            if not path.is_file():
                raise ToolError(f"{args.get('filePath')} does not exist")
            return path.read_bytes()[:READ_CAP].decode("utf-8", "replace")
        if tool == "write":
            path = self.resolve(args.get("filePath"))
            content = args.get("content")
            if not isinstance(content, str):
                raise ToolError("content must be a string")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            self._touched(path)
            return f"wrote {len(content.encode())} bytes to {path.relative_to(self.root)}"
        if tool == "edit":
            return self._edit(args)
        if tool == "bash":
            return await self._bash(args.get("command"))
        raise ToolError(f"unknown tool {tool!r}")

    def _edit(self, args: Mapping[str, Any]) -> str:
        path = self.resolve(args.get("filePath"))
        old, new = args.get("oldString"), args.get("newString")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise ToolError("oldString and newString must be strings (oldString non-empty)")
        if not path.is_file():
            raise ToolError(f"{args.get('filePath')} does not exist")
        text = path.read_text(encoding="utf-8")
        path.write_text(replace_text(text, old, new, args.get("replaceAll")), encoding="utf-8")
        self._touched(path)
        return f"edited {path.relative_to(self.root)}"

    def environment(self) -> dict[str, str]:
        """The whole environment of ``bash``: built from nothing, so none of the sidecar's
        variables (``OPENCODE_SHARED_SECRET``, provider api keys) can reach a command."""
        return {"PATH": os.defpath + ":/usr/local/bin", "HOME": str(self.root), "LANG": "C.UTF-8"}

    def shell_argv(self, command: str) -> list[str]:
        """How ``bash`` runs ``command`` (the confined tools prefix the sandbox launcher)."""
        return ["/bin/sh", "-c", command]

    async def _bash(self, command: object) -> str:
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        env = self.environment()
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

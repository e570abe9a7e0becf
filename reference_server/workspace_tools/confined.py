"""The tools under kernel confinement (Landlock), one child per tool call (both runtimes).

``bash`` runs through the sandbox launcher: its workspace read-write, the system's programs
read-only, nothing else (no other workspace, no store, no sidecar file, no ``/proc``).
File tools run in a child too (:mod:`~reference_server.workspace_tools.confined_io`),
confined to the workspace alone: the path checks of
:class:`~reference_server.workspace_tools.tools.WorkspaceTools` still run first, and the kernel
refuses whatever a link, a race or a missed case would still reach. Tool semantics stay
in ``WorkspaceTools``; this module only decides where they run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_server.sandbox import Sandbox
from reference_server.workspace_tools.files import FILE_TOOLS, ToolError
from reference_server.workspace_tools.tools import WorkspaceTools

FILE_OP_TIMEOUT = 15.0
CONFINED_IO = "reference_server.workspace_tools.confined_io"


@dataclass
class ConfinedWorkspaceTools(WorkspaceTools):
    sandbox: Sandbox | None = None

    def shell_argv(self, command: str) -> list[str]:
        argv = super().shell_argv(command)
        if self.sandbox is None:
            return argv
        return self.sandbox.command(argv, read_write=[self.root])

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool not in FILE_TOOLS or self.sandbox is None or not self.sandbox.confining:
            return await super().run(tool, args)
        self.resolve(args.get("filePath"))  # refuse early what the checks already see
        return await self._run_confined(tool, args)

    async def _run_confined(self, tool: str, args: Mapping[str, Any]) -> str:
        assert self.sandbox is not None
        argv = [self.sandbox.python, "-I", "-m", CONFINED_IO, str(self.root)]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.environment(),
        )
        request = json.dumps({"tool": tool, "args": dict(args)}).encode()
        try:
            async with asyncio.timeout(FILE_OP_TIMEOUT):
                out, err = await process.communicate(request)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ToolError(f"{tool} did not finish within {FILE_OP_TIMEOUT:g} s") from None
        try:
            answer = json.loads(out)
        except ValueError:
            raise ToolError(f"{tool} failed: {err.decode(errors='replace')[-300:]}") from None
        for path in answer.get("modified", []):
            if path not in self.modified:
                self.modified.append(path)
        if "error" in answer:
            raise ToolError(str(answer["error"]))
        return str(answer["output"])

"""Sandbox faults: a sidecar whose bash the kernel does not confine (path checks only, as
before issue 20), and one whose file tools check paths as written and follow links (as
OpenCode's own ``external_directory`` check does)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from fakes.confined_tools import ConfinedWorkspaceTools
from fakes.faults.fault import Fault
from fakes.runtime import FakeOpenCodeRuntime
from fakes.tools import WorkspaceTools
from fakes.workspace_files import FILE_TOOLS, ToolError
from reference_server.keys import runtime_key
from reference_server.runtime import SessionSpec


def _fake_runtime(app: web.Application) -> FakeOpenCodeRuntime:
    runtime = app[runtime_key]
    if not isinstance(runtime, FakeOpenCodeRuntime):
        raise SystemExit("this fault needs the fake runtime")
    return runtime


def unconfined_bash(app: web.Application) -> None:
    """Tools with every path check and an empty bash environment, but no kernel
    confinement; the sidecar holds its secret in the environment it was started with, as
    deploy/ gives it (and as a local sidecar is started: ``contract.settings.start_words``)."""

    def factory(spec: SessionSpec, timeout: float) -> WorkspaceTools:
        return WorkspaceTools(spec.workspace, timeout)

    _fake_runtime(app).tools_factory = factory


class LexicalTools(ConfinedWorkspaceTools):
    """Checks a path as written (normalised, links not resolved) and runs the file tools in
    the sidecar itself; bash stays confined."""

    def resolve(self, raw: object) -> Path:
        if not isinstance(raw, str) or not raw:
            raise ToolError("filePath must be a non-empty string")
        path = Path(os.path.normpath(self.root / raw))
        if not path.is_relative_to(self.root):
            raise ToolError(f"{raw} is outside the workspace")
        return path

    async def run(self, tool: str, args: Mapping[str, Any]) -> str:
        if tool in FILE_TOOLS:
            return await WorkspaceTools.run(self, tool, args)
        return await super().run(tool, args)


def lexical_file_tools(app: web.Application) -> None:
    runtime = _fake_runtime(app)

    def factory(spec: SessionSpec, timeout: float) -> WorkspaceTools:
        return LexicalTools(spec.workspace, timeout, sandbox=runtime.sandbox)

    runtime.tools_factory = factory


FAULTS = [
    Fault(
        "bash_unconfined",
        "bash runs with the sidecar's rights (path checks only), the secret in its environment",
        catches={"security": ("SANDBOX-BASH-FILES", "SANDBOX-BASH-PEER", "SANDBOX-BASH-PROC-ENV")},
        patch_app=unconfined_bash,
    ),
    Fault(
        "file_tools_follow_links",
        "file tools check the path as written and follow links (bash still confined)",
        catches={"security": ("SANDBOX-PATHS", "SANDBOX-LINKS-PEER")},
        patch_app=lexical_file_tools,
    ),
]

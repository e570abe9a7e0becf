"""The file tools, now :mod:`reference_server.workspace_tools.files` (shared with the real
OpenCode runtime); re-exported for the fakes and faulty sidecars that patch them."""

from __future__ import annotations

from reference_server.workspace_tools.files import (
    FILE_TOOLS,
    READ_CAP,
    ToolError,
    WorkspaceFiles,
    replace_text,
)

__all__ = ["FILE_TOOLS", "READ_CAP", "ToolError", "WorkspaceFiles", "replace_text"]

"""The file tools (``read``, ``write``, ``edit``) over one workspace: their path checks
and semantics (tools.yaml), synchronous, on the standard library alone. Both runtimes run
them: the fake runtime's agent loop and the real OpenCode's custom tools (through
:mod:`reference_server.runtimes.tool_bridge`).

A module of its own because the confined child
(:mod:`reference_server.workspace_tools.confined_io`) runs these in a fresh interpreter on
every file tool call: what it imports is paid per call (the contract package, with
jsonschema, and asyncio cost ~0.2 s of CPU each time; this module ~0.02 s). ``bash`` and
the async entry point a runtime calls are
:class:`reference_server.workspace_tools.tools.WorkspaceTools`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READ_CAP = 256 * 1024
FILE_TOOLS = ("read", "write", "edit")
"""The tools of tools.yaml this module runs; ``bash`` is ``WorkspaceTools``'s (tools.py)."""


class ToolError(Exception):
    """The tool refused or failed; reported to the model, not fatal to the session."""


def replace_text(text: str, old: str, new: str, replace_all: object) -> str:
    """``edit``'s semantics (tools.yaml): the one occurrence, or every one with replaceAll;
    without it, an ``oldString`` found more than once is refused (as OpenCode's edit)."""
    found = text.count(old)
    if not found:
        raise ToolError("oldString not found in the file")
    if replace_all is True:
        return text.replace(old, new)
    if found > 1:
        raise ToolError(
            f"found {found} matches for oldString: give more surrounding text, or replaceAll"
        )
    return text.replace(old, new, 1)


@dataclass
class WorkspaceFiles:
    """The file tools confined by path checks to ``root``; ``modified`` lists the files
    they changed (relative to ``root``), in order."""

    root: Path
    modified: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

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

    def run_file_tool(self, tool: str, args: Mapping[str, Any]) -> str:
        """One call of a tool of ``FILE_TOOLS`` (its ``_<tool>`` method); :class:`ToolError`
        for any other tool."""
        if tool not in FILE_TOOLS:
            raise ToolError(f"unknown tool {tool!r}")
        run: Callable[[Mapping[str, Any]], str] = getattr(self, f"_{tool}")
        return run(args)

    def _read(self, args: Mapping[str, Any]) -> str:
        path = self.resolve(args.get("filePath"))
        if not path.is_file():
            raise ToolError(f"{args.get('filePath')} does not exist")
        return path.read_bytes()[:READ_CAP].decode("utf-8", "replace")

    def _write(self, args: Mapping[str, Any]) -> str:
        path = self.resolve(args.get("filePath"))
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        self._touched(path)
        return f"wrote {len(content.encode())} bytes to {path.relative_to(self.root)}"

    def _edit(self, args: Mapping[str, Any]) -> str:
        path = self.resolve(args.get("filePath"))
        old, new = args.get("oldString"), args.get("newString")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise ToolError("oldString and newString must be strings (oldString non-empty)")
        if not path.is_file():
            raise ToolError(f"{args.get('filePath')} does not exist")
        text = path.read_text(encoding="utf-8")
        path.write_text(self.replace(text, old, new, args.get("replaceAll")), encoding="utf-8")
        self._touched(path)
        return f"edited {path.relative_to(self.root)}"

    def replace(self, text: str, old: str, new: str, replace_all: object) -> str:
        """``edit``'s replacement (:func:`replace_text`); a faulty sidecar overrides it."""
        return replace_text(text, old, new, replace_all)

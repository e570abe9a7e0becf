"""The confined tools, now :mod:`reference_server.workspace_tools.confined` (shared with the
real OpenCode runtime); re-exported for the fake runtime and the faulty sidecars."""

from __future__ import annotations

from reference_server.workspace_tools.confined import FILE_OP_TIMEOUT, ConfinedWorkspaceTools

__all__ = ["FILE_OP_TIMEOUT", "ConfinedWorkspaceTools"]

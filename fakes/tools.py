"""Tools of the fake OpenCode runtime: the contract's declarations and result shapes.

The tools themselves (path checks, ``bash`` bounds, confinement) are the reference's
:mod:`reference_server.workspace_tools`, shared with the real OpenCode runtime; they are
re-exported here for the fake runtime and the faulty sidecars.
"""

from __future__ import annotations

from typing import Any

from contract import tool_contract
from reference_server.workspace_tools.tools import (
    BASH_TIMEOUT,
    OUTPUT_CAP,
    WorkspaceTools,
    capped,
)

__all__ = [
    "BASH_TIMEOUT",
    "OUTPUT_CAP",
    "TOOL_ERROR_PREFIX",
    "WorkspaceTools",
    "capped",
    "error_result",
    "success_result",
    "tool_definitions",
]


def tool_definitions(enabled: tuple[str, ...]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` for the enabled tools: the contract's declarations (tools.yaml)."""
    return tool_contract().openai_declarations(enabled)


def success_result(output: str) -> dict[str, Any]:
    """A ``tool_result.result`` of a tool that did its work (tools.yaml results.success)."""
    return {"output": output}


TOOL_ERROR_PREFIX = "Error: "
"""How the text of an error result starts when it goes back to the model (model.yaml
``tool_results``: a sidecar may prefix it; the Messages API also gets ``is_error``)."""


def error_result(message: str) -> dict[str, Any]:
    """The one failed ``tool_result.result`` of every tool (tools.yaml results.error)."""
    return {"error": message or "the tool failed"}

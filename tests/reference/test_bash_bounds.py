"""bash bounds: contract defaults, overridable by BASH_TIMEOUT / BASH_OUTPUT_CAP, and honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import tool_contract
from fakes.tools import WorkspaceTools
from fakes.workspace_files import ToolError
from reference_server.config import Config, ConfigError


def test_defaults_are_the_contracts_and_the_environment_overrides_them() -> None:
    bounds = tool_contract().bash
    default = Config.from_env({})
    assert (default.bash_timeout, default.bash_output_cap) == (
        bounds.timeout_seconds,
        bounds.output_cap_bytes,
    )
    tuned = Config.from_env({"BASH_TIMEOUT": "2.5", "BASH_OUTPUT_CAP": "100"})
    assert (tuned.bash_timeout, tuned.bash_output_cap) == (2.5, 100)
    with pytest.raises(ConfigError, match="BASH_TIMEOUT"):
        Config.from_env({"BASH_TIMEOUT": "-1"})


async def test_the_output_cap_cuts_and_says_so(tmp_path: Path) -> None:
    tools = WorkspaceTools(tmp_path, bash_timeout=5, output_cap=10)
    out = await tools.run("bash", {"command": "printf '%s' 0123456789abcdef"})
    assert out.startswith("0123456789\n") and "truncated at 10 bytes" in out
    with pytest.raises(ToolError, match=r"timed out after 0\.2 s"):
        await WorkspaceTools(tmp_path, bash_timeout=0.2).run("bash", {"command": "sleep 3"})


async def test_edit_refuses_an_ambiguous_old_string_unless_replace_all(tmp_path: Path) -> None:
    """tools.yaml edit (as OpenCode's own edit): one occurrence is replaced; several are a
    tool error that changes nothing, unless replaceAll."""
    tools = WorkspaceTools(tmp_path)
    await tools.run("write", {"filePath": "a.txt", "content": "x x w"})
    with pytest.raises(ToolError, match="2 matches"):
        await tools.run("edit", {"filePath": "a.txt", "oldString": "x", "newString": "y"})
    assert (tmp_path / "a.txt").read_text() == "x x w"
    await tools.run("edit", {"filePath": "a.txt", "oldString": "w", "newString": "y"})
    assert (tmp_path / "a.txt").read_text() == "x x y"
    args = {"filePath": "a.txt", "oldString": "x", "newString": "z", "replaceAll": True}
    await tools.run("edit", args)
    assert (tmp_path / "a.txt").read_text() == "z z y"


async def test_bash_gets_a_private_temporary_directory_in_its_workspace(tmp_path: Path) -> None:
    """tools.yaml sandbox.tmpdir: /tmp is closed to confined commands, TMPDIR is not."""
    tools = WorkspaceTools(tmp_path, bash_timeout=5)
    out = await tools.run("bash", {"command": 'f=$(mktemp) && echo hi > "$f" && echo "$f"'})
    assert Path(out.strip()).parent == tmp_path.resolve() / ".tmp"

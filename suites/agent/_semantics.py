"""tools.yaml's semantics as checks on tool results read over the wire."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from contract import tool_contract

LINE_NUMBER = re.compile(r"^\s*\d+(: |\| |\t)")
"""A line-number prefix tools.yaml lets a read output put before each file line."""


def file_lines(output: str) -> list[str]:
    """The read output's lines with any line-number prefix taken off."""
    return [LINE_NUMBER.sub("", line, count=1) for line in output.splitlines()]


def read_shows(output: str, content: str) -> bool:
    """Whether a read output holds ``content``'s lines, in order, as consecutive lines."""
    wanted = content.splitlines()
    lines = file_lines(output)
    return any(lines[i : i + len(wanted)] == wanted for i in range(len(lines) - len(wanted) + 1))


def is_success(result: Any) -> bool:
    return isinstance(result, dict) and not list(
        Draft202012Validator(dict(tool_contract().success_result)).iter_errors(result)
    )


def is_error(result: Any) -> bool:
    return isinstance(result, dict) and not list(
        Draft202012Validator(dict(tool_contract().error_result)).iter_errors(result)
    )

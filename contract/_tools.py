"""``tools.yaml``: the tools a sidecar's agent declares to the model, their semantics, the
one result shape of a success and of a failure, and the bounds of bash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from contract._files import TOOLS_PATH, load_data


@dataclass(frozen=True)
class ToolSpec:
    """One contract tool."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """The JSON Schema of its arguments (the reference declares exactly this)."""
    semantics: str

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))

    @property
    def properties(self) -> Mapping[str, Any]:
        props: Mapping[str, Any] = self.parameters.get("properties", {})
        return props

    def incompatibilities(self, declared: Mapping[str, Any]) -> list[str]:
        """Why a declared parameter schema does not fit this tool ([] when it fits): every
        required parameter declared with its type, nothing required beyond the known ones."""
        problems: list[str] = []
        props = declared.get("properties") if isinstance(declared, Mapping) else None
        if not isinstance(props, Mapping):
            return [f"{self.name}: parameters declare no properties"]
        for name in self.required:
            want = self.properties[name].get("type")
            got = props.get(name, {}).get("type") if isinstance(props.get(name), Mapping) else None
            if name not in props:
                problems.append(f"{self.name}: parameter {name} is not declared")
            elif got != want:
                problems.append(
                    f"{self.name}: parameter {name} has type {got!r}, expected {want!r}"
                )
        extra = [r for r in declared.get("required", ()) or () if r not in self.properties]
        if extra:
            problems.append(f"{self.name}: requires parameters the contract does not know {extra}")
        return problems


@dataclass(frozen=True)
class BashLimits:
    """Default bounds of bash (a sidecar configures its own; the reference: BASH_TIMEOUT,
    BASH_OUTPUT_CAP)."""

    timeout_seconds: float
    output_cap_bytes: int


@dataclass(frozen=True)
class SandboxPaths:
    """What a confined tool may read besides its workspace (tools.yaml ``sandbox``)."""

    readable: tuple[str, ...]
    """System paths the reference opens read-only (execute included)."""
    devices: tuple[str, ...]
    tmpdir_variables: tuple[str, ...]
    """The variables that name the session's private temporary directory."""
    fake_tmpdir: str
    """That directory, relative to the workspace, on the fake runtime."""


@dataclass(frozen=True)
class ToolContract:
    tools: Mapping[str, ToolSpec]
    success_result: Mapping[str, Any]
    error_result: Mapping[str, Any]
    bash: BashLimits
    sandbox: SandboxPaths

    def result_schema(self) -> dict[str, Any]:
        """The schema of ``tool_result.result``: a success or the error, never both."""
        return {"oneOf": [dict(self.success_result), dict(self.error_result)]}

    def openai_declarations(self, enabled: tuple[str, ...]) -> list[dict[str, Any]]:
        """OpenAI chat ``tools`` for the enabled contract tools, in the given order."""
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": self.tools[name].description,
                    "parameters": dict(self.tools[name].parameters),
                },
            }
            for name in enabled
            if name in self.tools
        ]

    def anthropic_declarations(self, enabled: tuple[str, ...]) -> list[dict[str, Any]]:
        """Anthropic Messages ``tools`` for the enabled contract tools."""
        return [
            {
                "name": name,
                "description": self.tools[name].description,
                "input_schema": dict(self.tools[name].parameters),
            }
            for name in enabled
            if name in self.tools
        ]


@cache
def tool_contract() -> ToolContract:
    raw = load_data(TOOLS_PATH)
    tools = {
        name: ToolSpec(name, str(t["description"]), t["parameters"], str(t["semantics"]))
        for name, t in raw["tools"].items()
    }
    bash = raw["bash"]
    return ToolContract(
        tools=tools,
        success_result=raw["results"]["success"],
        error_result=raw["results"]["error"],
        bash=BashLimits(
            timeout_seconds=float(bash["timeout_seconds"]),
            output_cap_bytes=int(bash["output_cap_bytes"]),
        ),
        sandbox=SandboxPaths(
            readable=tuple(str(p) for p in raw["sandbox"]["readable"]),
            devices=tuple(str(p) for p in raw["sandbox"]["devices"]),
            tmpdir_variables=tuple(str(v) for v in raw["sandbox"]["tmpdir"]["variables"]),
            fake_tmpdir=str(raw["sandbox"]["tmpdir"]["fake_runtime"]),
        ),
    )

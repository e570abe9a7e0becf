"""Picking a runtime by name: the one place that wires fakes/real runtimes to the server."""

from __future__ import annotations

from reference_server.config import Config
from reference_server.runtime import Runtime


def build_runtime(config: Config) -> Runtime:
    """The runtime ``config.runtime`` names (``fake`` or ``opencode``)."""
    if config.runtime == "fake":
        from fakes.runtime import FakeOpenCodeRuntime

        return FakeOpenCodeRuntime(read_timeout=config.model_read_timeout)
    if config.runtime == "opencode":
        from reference_server.runtimes.opencode import OpenCodeRuntime, OpenCodeSettings

        return OpenCodeRuntime(OpenCodeSettings(state_dir=config.workspace_dir / ".opencode-state"))
    raise ValueError(f"unknown runtime {config.runtime!r}")

"""Picking a runtime by name: the one place that wires fakes/real runtimes to the server."""

from __future__ import annotations

import importlib
from typing import cast

from reference_server.config import Config, ConfigError
from reference_server.runtime import Runtime

OPENCODE_MODULE = "reference_server.runtimes.opencode"


def build_runtime(config: Config) -> Runtime:
    """The runtime ``config.runtime`` names (``fake`` or ``opencode``)."""
    if config.runtime == "fake":
        from fakes.runtime import FakeOpenCodeRuntime

        return FakeOpenCodeRuntime(read_timeout=config.model_read_timeout)
    if config.runtime == "opencode":
        try:
            module = importlib.import_module(OPENCODE_MODULE)
        except ModuleNotFoundError:
            raise ConfigError(
                "RUNTIME=opencode: the real OpenCode runtime is not in this build yet; "
                "use RUNTIME=fake"
            ) from None
        settings = module.OpenCodeSettings(state_dir=config.workspace_dir / ".opencode-state")
        return cast(Runtime, module.OpenCodeRuntime(settings))
    raise ConfigError(f"RUNTIME={config.runtime!r} is not a runtime (fake or opencode)")

"""Picking a runtime by name: the one place that wires fakes/real runtimes to the server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reference_server.config import Config, ConfigError
from reference_server.runtime import Runtime
from reference_server.sandbox.startup import sandbox_for


def build_runtime(
    config: Config, environ: Mapping[str, str], search_from: Path | None = None
) -> Runtime:
    """The runtime ``config.runtime`` names (``fake`` or ``opencode``); ``environ`` is the
    server's environment (the real runtime passes a few variables of it on to OpenCode)."""
    if config.runtime == "fake":
        from fakes.wiring import build_fake_runtime

        return build_fake_runtime(config)
    if config.runtime == "opencode":
        from reference_server.runtimes.opencode import OpenCodeRuntime, OpenCodeSettings
        from reference_server.runtimes.opencode_process import OpenCodeMissing, find_binary

        try:
            binary = find_binary(config.opencode_bin, search_from or Path.cwd())
        except OpenCodeMissing as exc:
            raise ConfigError(f"RUNTIME=opencode: {exc}") from None
        sandbox = sandbox_for(config)  # after the binary: a missing one is the first error
        settings = OpenCodeSettings(
            binary=binary,
            state_dir=config.opencode_state_dir or config.workspace_dir / ".opencode-state",
            slots=config.max_concurrent_sessions,
            model_read_timeout=config.model_read_timeout,
            bash_timeout=config.bash_timeout,
            bash_output_cap=config.bash_output_cap,
            probe_interval=config.opencode_probe_interval,
            wedge_timeout=config.opencode_wedge_timeout,
            sandbox=sandbox,
            environ=environ,
        )
        return OpenCodeRuntime(settings)
    raise ConfigError(f"RUNTIME={config.runtime!r} is not a runtime (fake or opencode)")

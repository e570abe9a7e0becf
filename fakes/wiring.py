"""The fake runtime built from a :class:`Config`: the one place that wires it, for both
servers that run it (``opencode-sidecar serve`` with ``RUNTIME=fake`` and the faulty
sidecars' ``python -m fakes faulty``)."""

from __future__ import annotations

from fakes.runtime import FakeOpenCodeRuntime
from reference_server.config import Config
from reference_server.sandbox.startup import sandbox_for


def build_fake_runtime(config: Config) -> FakeOpenCodeRuntime:
    """The fake OpenCode runtime with the config's model and bash bounds, its tools confined
    as ``config.sandbox`` says (probed once here)."""
    return FakeOpenCodeRuntime(
        read_timeout=config.model_read_timeout,
        bash_timeout=config.bash_timeout,
        bash_output_cap=config.bash_output_cap,
        sandbox=sandbox_for(config),
    )

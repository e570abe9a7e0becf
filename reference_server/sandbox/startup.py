"""The sandbox a server starts with: ``SANDBOX`` against the kernel, said in one line."""

from __future__ import annotations

import logging

from reference_server.config import Config, ConfigError
from reference_server.sandbox import Sandbox, SandboxUnavailable

log = logging.getLogger("reference_server.sandbox")


def sandbox_for(config: Config) -> Sandbox:
    """Probe once; ``SANDBOX=required`` without kernel support stops startup (ConfigError)."""
    try:
        sandbox = Sandbox.probe(config.sandbox)
    except SandboxUnavailable as exc:
        raise ConfigError(str(exc)) from None
    (log.info if sandbox.confining else log.warning)(sandbox.status_line())
    return sandbox

"""The sandbox a server starts with: ``SANDBOX`` against the kernel, said in one line."""

from __future__ import annotations

import logging
from typing import Protocol

from contract.settings import SettingError
from reference_server.sandbox import Sandbox, SandboxMode, SandboxUnavailable

log = logging.getLogger("reference_server.sandbox")


class SandboxSetting(Protocol):
    """What of the config the sandbox needs (``reference_server.config.Config`` has it; not
    imported here: the config imports the sandbox's modes)."""

    @property
    def sandbox(self) -> SandboxMode: ...


def sandbox_for(config: SandboxSetting) -> Sandbox:
    """Probe once; ``SANDBOX=required`` without kernel support stops startup (ConfigError)."""
    try:
        sandbox = Sandbox.probe(config.sandbox)
    except SandboxUnavailable as exc:
        raise SettingError(str(exc)) from None
    (log.info if sandbox.confining else log.warning)(sandbox.status_line())
    return sandbox

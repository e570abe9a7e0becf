"""Kernel confinement of the agent's tools (Landlock), decided once at startup.

:class:`Sandbox` is built by the composition root from ``SANDBOX`` (``required``,
``best-effort``, ``off``) and the kernel's answer, and handed to the runtime, which asks it
for the command line of every confined process (:meth:`Sandbox.command`): the launcher
(``python -I -m reference_server.sandbox.launch``) applies the rules, then ``exec``\\ s.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reference_server.sandbox.landlock import abi_version, unavailable_reason

SandboxMode = Literal["required", "best-effort", "off"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("required", "best-effort", "off")


class SandboxUnavailable(RuntimeError):
    """``SANDBOX=required`` and the kernel cannot confine: the sidecar must not serve."""


@dataclass(frozen=True)
class Sandbox:
    mode: SandboxMode
    abi: int
    reason: str | None = None
    """Why tools are not confined (``None`` when they are)."""
    python: str = sys.executable

    @classmethod
    def probe(cls, mode: SandboxMode) -> Sandbox:
        """Ask the kernel; raises :class:`SandboxUnavailable` when ``required`` cannot hold."""
        if mode == "off":
            return cls(mode, 0, "SANDBOX=off")
        abi = abi_version()
        if abi >= 1:
            return cls(mode, abi)
        reason = unavailable_reason() or "Landlock is unavailable"
        if mode == "required":
            raise SandboxUnavailable(
                f"SANDBOX=required but {reason}; the tools cannot be confined. "
                "Run on a kernel with Landlock, or set SANDBOX=best-effort to serve unconfined"
            )
        return cls(mode, 0, reason)

    @property
    def confining(self) -> bool:
        return self.reason is None

    def command(
        self,
        argv: Sequence[str],
        read_write: Iterable[Path],
        read_only: Iterable[Path] = (),
        cwd: Path | None = None,
        system: bool = True,
    ) -> list[str]:
        """``argv`` run through the launcher, confined (unchanged when not confining), for
        this process to start: the launcher refuses to run it if this process has died by
        the time it would (``--parent``)."""
        if not self.confining:
            return list(argv)
        prefix = [self.python, "-I", "-m", "reference_server.sandbox.launch"]
        prefix.append(f"--parent={os.getpid()}")
        prefix += [f"--read-write={p}" for p in read_write]
        prefix += [f"--read-only={p}" for p in read_only]
        if cwd is not None:
            prefix.append(f"--cwd={cwd}")
        if not system:
            prefix.append("--no-system")
        return [*prefix, "--", *argv]

    def status_line(self) -> str:
        """The one startup line."""
        if self.confining:
            return f"sandbox: Landlock ABI {self.abi}; each session's tools stay in its workspace"
        if self.mode == "off":
            return "sandbox: off (SANDBOX=off); tools run with the sidecar's rights"
        return f"sandbox: UNAVAILABLE ({self.reason}); SANDBOX=best-effort: tools run unconfined"

    def details(self) -> dict[str, Any]:
        """What ``/ready`` reports (``sandbox`` of the Ready body)."""
        out: dict[str, Any] = {"mode": self.mode, "confined": self.confining}
        if self.confining:
            out.update(mechanism="landlock", abi=self.abi)
        else:
            out["reason"] = self.reason
        return out

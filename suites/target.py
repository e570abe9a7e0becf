"""The target under verification and what it declares about itself (from CLI/env, once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TargetOptions:
    """Everything the suites know about the sidecar they verify."""

    url: str
    secret: str | None = None
    model_endpoint: str | None = None
    """Base URL of a running fake model server; ``None``: the suite starts one."""
    heartbeat_interval: float = 30.0
    """HEARTBEAT_INTERVAL the target runs with."""
    session_timeout: float | None = None
    """SESSION_TIMEOUT the target runs with, when it is short enough to test."""
    max_sessions: int | None = None
    """MAX_CONCURRENT_SESSIONS the target runs with; ``None``: probe for the limit."""
    bash_timeout: float | None = None  # SETTING(issue 19)
    """The target's bash timeout (its BASH_TIMEOUT), when short enough to test (<= 10 s);
    ``None``: AGENT-BASH-TIMEOUT skips."""
    workspace: Path | None = None
    """The target's WORKSPACE_DIR as seen from here, when shared."""
    strict: bool = False
    """SHOULD clauses fail the run."""
    metrics_public: bool = False
    """The target serves /metrics without the bearer token (METRICS_REQUIRE_AUTH=false)."""
    restart_cmd: str | None = None
    """A shell command that kills the target (SIGKILL) and starts it again on the same URL;
    ``None``: the durability suite skips."""
    pid: int | None = None
    """The target's process id, when it runs on this machine (soak: fds and RSS)."""
    soak_duration: float | None = None
    """Seconds of soak storm; ``None``: the short bounded default run."""

    def redacted(self) -> dict[str, object]:
        return {
            "url": self.url,
            "secret": "***" if self.secret else None,
            "model_endpoint": self.model_endpoint,
            "heartbeat_interval": self.heartbeat_interval,
            "session_timeout": self.session_timeout,
            "max_sessions": self.max_sessions,
            "bash_timeout": self.bash_timeout,  # SETTING(issue 19)
            "workspace": str(self.workspace) if self.workspace else None,
            "strict": self.strict,
            "metrics_public": self.metrics_public,
            "restart_cmd": self.restart_cmd,
            "pid": self.pid,
            "soak_duration": self.soak_duration,
        }

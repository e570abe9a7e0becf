"""Configuration: a frozen dataclass built once from the environment (and CLI overrides).

Each field is one declaration (:func:`contract.settings.setting`: environment variable,
flag, parser, validity, default, help, secret or not, the ``verify`` flag that declares it
to the suites); ``from_env``, ``redacted``, every serve command's flags
(:func:`add_server_arguments`, :func:`server_config`) and what a local reference is started
with and verify is told (:func:`contract.settings.start_words`, :func:`contract.settings.told`)
derive from it. Nothing else reads ``os.environ``; the config is passed down from the
composition root.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from contract import retention_rules, tool_contract
from contract.settings import SettingError, add_cli_arguments, cli_overrides, from_env, setting
from contract.settings import redacted as redacted_settings
from reference_server.sandbox import SANDBOX_MODES, SandboxMode

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
RUNTIMES = ("fake", "opencode")

ConfigError = SettingError
"""A configuration value is invalid; the message names the variable and the fix."""


def _positive(value: float) -> bool:
    return value > 0


def _not_negative(value: float) -> bool:
    return value >= 0


def _port(value: int) -> bool:
    return 0 <= value <= 65535


def _lower(raw: str) -> str:
    return raw.strip().lower()


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


@dataclass(frozen=True)
class Config:
    """Everything the reference sidecar can be told: one declaration per field."""

    host: str = setting(
        "interface to bind (the pod's; tests use 127.0.0.1)",
        default="0.0.0.0",
        env="HOST",
        flag="--host",
    )
    port: int = setting(
        "TCP port, 0 = any free one",
        default=3003,
        env="PORT",
        flag="--port",
        parse=int,
        valid=_port,
    )
    workspace_dir: Path = setting(
        "workspace directory: each session works in WORKSPACE_DIR/<session_id>/",
        default=Path("/workspace"),
        env="WORKSPACE_DIR",
        flag="--workspace",
        parse=Path,
        verify="--workspace",
    )
    log_level: str = setting(
        "log level",
        default="info",
        env="LOG_LEVEL",
        flag="--log-level",
        parse=_lower,
        choices=LOG_LEVELS,
    )
    session_timeout: float = setting(
        "seconds a session may run before it fails with code timeout",
        default=3600.0,
        env="SESSION_TIMEOUT",
        flag="--session-timeout",
        parse=float,
        valid=_positive,
        verify="--session-timeout",
    )
    max_concurrent_sessions: int = setting(
        "running sessions at once; beyond it POST answers 503",
        default=5,
        env="MAX_CONCURRENT_SESSIONS",
        flag="--max-sessions",
        parse=int,
        valid=_positive,
        verify="--max-sessions",
    )
    heartbeat_interval: float = setting(
        "seconds of silence after which a stream gets a heartbeat",
        default=30.0,
        env="HEARTBEAT_INTERVAL",
        flag="--heartbeat-interval",
        parse=float,
        valid=_positive,
        verify="--heartbeat-interval",
    )
    shared_secret: str | None = setting(
        "bearer token required on every non-probe route when set",
        env="OPENCODE_SHARED_SECRET",
        flag="--secret",
        secret=True,
        verify="--secret",
    )
    runtime: str = setting(
        "agent runtime: fake (the fake OpenCode agent loop) or opencode (the real opencode serve)",
        default="fake",
        env="RUNTIME",
        flag="--runtime",
        parse=_lower,
        choices=RUNTIMES,
    )
    max_body_bytes: int = setting(
        "larger request bodies answer 413",
        default=1024 * 1024,
        env="MAX_BODY_BYTES",
        flag="--max-body-bytes",
        parse=int,
        valid=_positive,
    )
    retry_after: int = setting(
        "seconds announced in Retry-After when the session limit is reached",
        default=5,
        env="RETRY_AFTER",
        flag="--retry-after",
        parse=int,
        valid=_positive,
    )
    stream_write_timeout: float = setting(
        "a reader that accepts no bytes for this many seconds is disconnected",
        default=30.0,
        env="STREAM_WRITE_TIMEOUT",
        flag="--stream-write-timeout",
        parse=float,
        valid=_positive,
    )
    shutdown_grace: float = setting(
        "seconds SIGTERM waits for sessions to end before interrupting them",
        default=10.0,
        env="SHUTDOWN_GRACE",
        flag="--shutdown-grace",
        parse=float,
        valid=_positive,
    )
    metrics_require_auth: bool = setting(
        "serve /metrics without the bearer token",
        default=True,
        env="METRICS_REQUIRE_AUTH",
        flag="--metrics-public",
        parse=_boolean,
        switch=True,
        const=False,
        verify="--metrics-public",
    )
    model_read_timeout: float = setting(
        "seconds the runtime waits for the model's next bytes",
        default=30.0,
        env="MODEL_READ_TIMEOUT",
        flag="--model-read-timeout",
        parse=float,
        valid=_positive,
    )
    bash_timeout: float = setting(
        "seconds a bash command may run before it is killed (a tool error); default: "
        "contract/tools.yaml bash.timeout_seconds",
        default_factory=lambda: tool_contract().bash.timeout_seconds,
        env="BASH_TIMEOUT",
        flag="--bash-timeout",
        parse=float,
        valid=_positive,
        verify="--bash-timeout",
    )
    bash_output_cap: int = setting(
        "bytes of a bash command's output kept (the rest is cut, saying so); default: "
        "contract/tools.yaml bash.output_cap_bytes",
        default_factory=lambda: tool_contract().bash.output_cap_bytes,
        env="BASH_OUTPUT_CAP",
        flag="--bash-output-cap",
        parse=int,
        valid=_positive,
    )
    permission_timeout: float = setting(
        "seconds a permission request waits for the backend's answer; then it is denied and a "
        "permission_resolved event (by timeout) says so",
        default=300.0,
        env="PERMISSION_TIMEOUT",
        flag="--permission-timeout",
        parse=float,
        valid=_positive,
        verify="--permission-timeout",
    )
    opencode_bin: str | None = setting(
        "the `opencode` binary (default: ./.opencode/node_modules/.bin, then PATH)",
        env="OPENCODE_BIN",
        flag="--opencode-bin",
    )
    opencode_state_dir: Path | None = setting(
        "OpenCode's HOME and config (default WORKSPACE_DIR/.opencode-state)",
        env="OPENCODE_STATE_DIR",
        flag="--opencode-state-dir",
        parse=Path,
    )
    opencode_probe_interval: float = setting(
        "seconds between two health probes of the shared OpenCode (the real runtime)",
        default=2.0,
        env="OPENCODE_PROBE_INTERVAL",
        flag="--opencode-probe-interval",
        parse=float,
        valid=_positive,
    )
    opencode_wedge_timeout: float = setting(
        "seconds the shared OpenCode may go without answering before it is declared wedged: "
        "its running sessions end (runtime_error) and it is restarted",
        default=15.0,
        env="OPENCODE_WEDGE_TIMEOUT",
        flag="--opencode-wedge-timeout",
        parse=float,
        valid=_positive,
    )
    session_retention: float = setting(
        "seconds a finished session (status and event log) stays readable after its terminal "
        "event; then its routes answer 404 and the store deletes it",
        default=retention_rules().default_seconds,
        env="SESSION_RETENTION",
        flag="--session-retention",
        parse=float,
        valid=_positive,
        verify="--session-retention",
    )
    max_retained_sessions: int = setting(
        "finished sessions kept at most; beyond it the oldest finished one goes first "
        "(memory and store stay bounded under churn)",
        default=retention_rules().default_max_finished,
        env="MAX_RETAINED_SESSIONS",
        flag="--max-retained-sessions",
        parse=int,
        valid=_not_negative,
        verify="--max-retained-sessions",
    )
    storage_dir: Path | None = setting(
        "keep sessions and events in STORAGE_DIR/sidecar.db (SQLite) so they survive a "
        "restart (default: in memory only)",
        env="STORAGE_DIR",
        flag="--storage-dir",
        parse=Path,
    )
    project_dir: Path | None = setting(
        "a git repository (on the shared volume) each session gets its own checkout of, at its "
        "base_ref, and commits its change back to; unset: each session starts in an empty folder",
        env="PROJECT_DIR",
        flag="--project-dir",
        parse=Path,
        verify="--project-dir",
    )
    project_branch: str = setting(
        "the branch a session's change is committed to ({session_id} replaced)",
        default="opencode/{session_id}",
        env="PROJECT_BRANCH",
        flag="--project-branch",
    )
    project_author: str = setting(
        "author and committer of those commits, as 'Name <email>'",
        default="opencode-sidecar <opencode-sidecar@localhost>",
        env="PROJECT_AUTHOR",
        flag="--project-author",
    )
    sandbox: SandboxMode = setting(
        "confine each session's tools (bash and everything it starts, file tools) to its "
        "workspace with Landlock; without kernel support, required refuses to start and "
        "best-effort serves unconfined, saying so at startup and on /ready",
        default="required",
        env="SANDBOX",
        flag="--sandbox",
        parse=_lower,
        choices=SANDBOX_MODES,
    )

    def redacted(self) -> dict[str, Any]:
        """The config as a dict fit for a log line (the secret masked)."""
        return redacted_settings(self)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the non-None overrides applied (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build from environment variables; a bad value raises :class:`ConfigError`."""
        cfg = from_env(cls, env)
        cfg.check()
        return cfg

    def check(self) -> None:
        """Cross-field checks; raise :class:`ConfigError` naming the variable."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name.upper()} must be a finite number, got {value}")
        if self.sandbox not in SANDBOX_MODES:
            raise ConfigError(f"SANDBOX={self.sandbox!r} is not one of {', '.join(SANDBOX_MODES)}")
        if self.max_concurrent_sessions < 1:
            raise ConfigError("MAX_CONCURRENT_SESSIONS must be at least 1")
        if "{session_id}" not in self.project_branch:
            raise ConfigError(
                f"PROJECT_BRANCH={self.project_branch!r} must contain {{session_id}} "
                "(one branch per session)"
            )
        if "<" not in self.project_author or not self.project_author.rstrip().endswith(">"):
            raise ConfigError(f"PROJECT_AUTHOR={self.project_author!r} must read 'Name <email>'")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Every serve command's flags, one per :class:`Config` field (each names its variable)."""
    add_cli_arguments(parser, Config, env_in_help=True)


def server_config(args: argparse.Namespace, env: Mapping[str, str], **base: Any) -> Config:
    """Config from the environment, then ``base`` (a command's own defaults), then the
    flags given (once, at the edge)."""
    config = replace(Config.from_env(env), **base).with_overrides(**cli_overrides(Config, args))
    config.check()
    return config

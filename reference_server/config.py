"""Configuration: a frozen dataclass built once from the environment (and CLI overrides).

Nothing else reads ``os.environ``; the config is passed down from the composition root.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from contract import retention_rules, tool_contract
from reference_server.sandbox import SANDBOX_MODES, SandboxMode

T = TypeVar("T")

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class Config:
    """Everything the reference sidecar can be told. Field docs name the variable."""

    host: str = "0.0.0.0"
    """HOST: interface to bind (the pod's; tests use 127.0.0.1)."""
    port: int = 3003
    """PORT: TCP port (0 = any free port)."""
    workspace_dir: Path = Path("/workspace")
    """WORKSPACE_DIR: each session works in WORKSPACE_DIR/<session_id>/."""
    log_level: str = "info"
    """LOG_LEVEL: debug|info|warn|error."""
    session_timeout: float = 3600.0
    """SESSION_TIMEOUT: seconds a session may run before it fails with code timeout."""
    max_concurrent_sessions: int = 5
    """MAX_CONCURRENT_SESSIONS: running sessions at once; beyond it POST answers 503."""
    heartbeat_interval: float = 30.0
    """HEARTBEAT_INTERVAL: seconds of silence after which a stream gets a heartbeat."""
    shared_secret: str | None = None
    """OPENCODE_SHARED_SECRET: bearer token required on every non-probe route when set."""
    runtime: str = "fake"
    """RUNTIME: fake (the fake OpenCode agent loop) or opencode (the real opencode serve)."""
    max_body_bytes: int = 1024 * 1024
    """MAX_BODY_BYTES: larger request bodies answer 413."""
    retry_after: int = 5
    """RETRY_AFTER: seconds announced in Retry-After when the session limit is reached."""
    stream_write_timeout: float = 30.0
    """STREAM_WRITE_TIMEOUT: a reader that accepts no bytes for this long is disconnected."""
    shutdown_grace: float = 10.0
    """SHUTDOWN_GRACE: seconds SIGTERM waits for sessions to end before interrupting them."""
    metrics_require_auth: bool = True
    """METRICS_REQUIRE_AUTH: whether /metrics needs the shared secret (when one is set)."""
    model_read_timeout: float = 30.0
    """MODEL_READ_TIMEOUT: seconds the runtime waits for the model's next bytes."""
    bash_timeout: float = field(default_factory=lambda: tool_contract().bash.timeout_seconds)
    """BASH_TIMEOUT: seconds a bash command may run before it is killed (a tool error);
    default: contract/tools.yaml bash.timeout_seconds."""
    bash_output_cap: int = field(default_factory=lambda: tool_contract().bash.output_cap_bytes)
    """BASH_OUTPUT_CAP: bytes of a bash command's output kept (the rest is cut, saying so);
    default: contract/tools.yaml bash.output_cap_bytes."""
    opencode_bin: str | None = None
    """OPENCODE_BIN: the `opencode` binary (default: ./.opencode/node_modules/.bin, then PATH)."""
    opencode_state_dir: Path | None = None
    """OPENCODE_STATE_DIR: OpenCode's HOME and config (default WORKSPACE_DIR/.opencode-state)."""
    session_retention: float = retention_rules().default_seconds
    """SESSION_RETENTION: seconds a finished session (status and event log) stays readable
    after its terminal event; then its routes answer 404 and the store deletes it."""
    max_retained_sessions: int = retention_rules().default_max_finished
    """MAX_RETAINED_SESSIONS: finished sessions kept at most; beyond it the oldest finished
    one goes first (memory and store stay bounded under churn)."""
    storage_dir: Path | None = None
    """STORAGE_DIR: keep sessions and events in STORAGE_DIR/sidecar.db (SQLite) so they survive
    a restart; unset: in memory only."""

    project_dir: Path | None = None
    """PROJECT_DIR: a git repository (on the shared volume) each session gets its own
    checkout of, at its ``base_ref``, and commits its change back to; unset: each session
    starts in an empty folder."""
    project_branch: str = "opencode/{session_id}"
    """PROJECT_BRANCH: the branch a session's change is committed to ({session_id} replaced)."""
    project_author: str = "opencode-sidecar <opencode-sidecar@localhost>"
    """PROJECT_AUTHOR: author and committer of those commits, as ``Name <email>``."""

    sandbox: SandboxMode = "required"
    """SANDBOX: required|best-effort|off. Confine each session's tools (bash and everything it
    starts, file tools) to its workspace with Landlock; without kernel support, ``required``
    refuses to start and ``best-effort`` serves unconfined, saying so at startup and on /ready."""

    def redacted(self) -> dict[str, Any]:
        """The config as a dict fit for a log line (the secret masked)."""
        values = asdict(self)
        values["workspace_dir"] = str(self.workspace_dir)
        for name in ("opencode_state_dir", "storage_dir", "project_dir"):
            if values[name] is not None:
                values[name] = str(values[name])
        if self.shared_secret:
            values["shared_secret"] = "***"
        return values

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the non-None overrides applied (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build from environment variables; a bad value raises :class:`ConfigError`."""
        d = cls()
        cfg = cls(
            host=env.get("HOST", d.host),
            port=_read(env, "PORT", int, d.port, lambda v: 0 <= v <= 65535),
            workspace_dir=Path(env.get("WORKSPACE_DIR", str(d.workspace_dir))),
            log_level=_read(env, "LOG_LEVEL", str.lower, d.log_level, LOG_LEVELS.__contains__),
            session_timeout=_read(env, "SESSION_TIMEOUT", float, d.session_timeout, _positive),
            max_concurrent_sessions=_read(
                env, "MAX_CONCURRENT_SESSIONS", int, d.max_concurrent_sessions, _positive
            ),
            heartbeat_interval=_read(
                env, "HEARTBEAT_INTERVAL", float, d.heartbeat_interval, _positive
            ),
            shared_secret=env.get("OPENCODE_SHARED_SECRET") or None,
            runtime=_read(env, "RUNTIME", str.lower, d.runtime, ("fake", "opencode").__contains__),
            max_body_bytes=_read(env, "MAX_BODY_BYTES", int, d.max_body_bytes, _positive),
            retry_after=_read(env, "RETRY_AFTER", int, d.retry_after, _positive),
            stream_write_timeout=_read(
                env, "STREAM_WRITE_TIMEOUT", float, d.stream_write_timeout, _positive
            ),
            shutdown_grace=_read(env, "SHUTDOWN_GRACE", float, d.shutdown_grace, _positive),
            metrics_require_auth=_read(
                env, "METRICS_REQUIRE_AUTH", _boolean, d.metrics_require_auth, _any
            ),
            model_read_timeout=_read(
                env, "MODEL_READ_TIMEOUT", float, d.model_read_timeout, _positive
            ),
            bash_timeout=_read(env, "BASH_TIMEOUT", float, d.bash_timeout, _positive),
            bash_output_cap=_read(env, "BASH_OUTPUT_CAP", int, d.bash_output_cap, _positive),
            opencode_bin=env.get("OPENCODE_BIN") or None,
            opencode_state_dir=Path(env["OPENCODE_STATE_DIR"])
            if env.get("OPENCODE_STATE_DIR")
            else None,
            session_retention=_read(
                env, "SESSION_RETENTION", float, d.session_retention, _positive
            ),
            max_retained_sessions=_read(
                env, "MAX_RETAINED_SESSIONS", int, d.max_retained_sessions, _not_negative
            ),
            storage_dir=Path(env["STORAGE_DIR"]) if env.get("STORAGE_DIR") else None,
            sandbox=_read(env, "SANDBOX", _sandbox_mode, d.sandbox, _any),
            project_dir=Path(env["PROJECT_DIR"]) if env.get("PROJECT_DIR") else None,
            project_branch=env.get("PROJECT_BRANCH") or d.project_branch,
            project_author=env.get("PROJECT_AUTHOR") or d.project_author,
        )
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


def _positive(value: float) -> bool:
    return value > 0


def _not_negative(value: float) -> bool:
    return value >= 0


def _any(_: object) -> bool:
    return True


def _sandbox_mode(raw: str) -> SandboxMode:
    for mode in SANDBOX_MODES:
        if raw.strip().lower() == mode:
            return mode
    raise ValueError(raw)


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _read(
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str], T],
    default: T,
    valid: Callable[[T], bool],
) -> T:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise ConfigError(f"{name}={raw!r} is not valid (default {default!r}); fix or unset {name}")
    return value

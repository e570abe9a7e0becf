"""What the suites know about the sidecar they verify, and how they judge it: each a frozen
object whose every field is declared once (:mod:`contract.settings`), from which the
``opencode-sidecar verify`` flags, the pytest options and the redacted report form derive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract import load_profiles
from contract.settings import setting


def duration(raw: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m`` or ``1h``."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    text = raw.strip().lower()
    scale = units.get(text[-1:], 1.0)
    try:
        value = float(text[:-1] if text[-1:] in units else text) * scale
    except ValueError:
        raise ValueError(f"not a duration: {raw!r} (try 60, 90s or 10m)") from None
    if value <= 0:
        raise ValueError(f"not a positive duration: {raw!r}")
    return value


def url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"{raw!r} is not a URL (try http://127.0.0.1:3003)")
    return raw.rstrip("/")


@dataclass(frozen=True)
class TargetOptions:
    """The sidecar under verification and what it declares about itself."""

    url: str = setting(
        "base URL of the sidecar to verify (default: start the reference sidecar)",
        flag="--target",
        env="SIDECAR_URL",
        parse=url,
        metavar="URL",
        default="",
    )
    secret: str | None = setting(
        "its shared bearer secret, if it has one",
        flag="--secret",
        env="SIDECAR_SECRET",
        secret=True,
    )
    model_endpoint: str | None = setting(
        "a running fake model server (default: start one)",
        flag="--model-endpoint",
        env="MODEL_ENDPOINT",
        metavar="URL",
    )
    heartbeat_interval: float = setting(
        "the target's HEARTBEAT_INTERVAL in seconds",
        metavar="SECONDS",
        flag="--heartbeat-interval",
        parse=float,
        default=30.0,
    )
    session_timeout: float | None = setting(
        "the target's SESSION_TIMEOUT in seconds, to check it (default: skip that clause)",
        metavar="SECONDS",
        flag="--session-timeout",
        parse=float,
    )
    max_sessions: int | None = setting(
        "the target's MAX_CONCURRENT_SESSIONS (default: probe for the limit)",
        metavar="N",
        flag="--max-sessions",
        parse=int,
    )
    bash_timeout: float | None = setting(
        "the target's bash timeout (BASH_TIMEOUT) in seconds, to check AGENT-BASH-TIMEOUT "
        "(at most 10 s can be told from none; default: skip it)",
        flag="--bash-timeout",
        parse=float,
        metavar="SECONDS",
    )
    permission_timeout: float | None = setting(
        "the target's PERMISSION_TIMEOUT in seconds, to check PERMISSION-TIMEOUT (at most 30 s; "
        "default: skip it)",
        flag="--permission-timeout",
        parse=float,
        metavar="SECONDS",
    )
    session_retention: float | None = setting(
        "the target's SESSION_RETENTION in seconds, to check it (default: skip RETENTION-* "
        "and SOAK-CHURN-MEMORY)",
        flag="--session-retention",
        parse=float,
        metavar="SECONDS",
    )
    max_retained_sessions: int | None = setting(
        "the target's MAX_RETAINED_SESSIONS (RETENTION-CAP fills it; the churn soak warms up "
        "with that many sessions)",
        flag="--max-retained-sessions",
        parse=int,
        metavar="N",
    )
    workspace: Path | None = setting(
        "the target's WORKSPACE_DIR, when readable from here (checks real file changes)",
        metavar="DIR",
        flag="--workspace",
        parse=Path,
    )
    project_fixture: bool = setting(
        "the target was started with PROJECT_DIR = a fixture made by `python -m fakes project "
        "DIR` (runs the PROJECT-* clauses)",
        flag="--project-fixture",
        switch=True,
        default=False,
    )
    project_dir: Path | None = setting(
        "that fixture's folder, when readable from here (implies --project-fixture; checks "
        "the sessions' branches and the project's working tree)",
        flag="--project-dir",
        parse=Path,
        metavar="DIR",
    )
    metrics_public: bool = setting(
        "the target serves /metrics without the token (its METRICS_REQUIRE_AUTH=false)",
        flag="--metrics-public",
        switch=True,
        default=False,
    )
    restart_cmd: str | None = setting(
        "shell command that kills the target with SIGKILL and starts it again on the same "
        "URL (durability suite; default: skip it)",
        flag="--restart-cmd",
        env="SIDECAR_RESTART_CMD",
        metavar="CMD",
    )
    profiles: tuple[str, ...] = setting(
        "conformance profiles the target claims, e.g. core,websocket (default: all of "
        f"{', '.join(load_profiles().names)}); the clauses of the others are not run and their "
        "profile is reported 'not claimed'",
        flag="--profile",
        repeat=True,
        choices=load_profiles().names,
        metavar="PROFILE",
    )
    pid: int | None = setting(
        "the target's PID, when it runs on this machine (soak: its open fds and RSS)",
        metavar="PID",
        flag="--pid",
        parse=int,
    )

    @property
    def has_project_fixture(self) -> bool:
        """Whether the target runs on the fixture project (either flag says so)."""
        return self.project_fixture or self.project_dir is not None

    def claims(self, profile: str) -> bool:
        """Whether the target claims ``profile`` (no profile named: it claims them all)."""
        return not self.profiles or profile in self.profiles


@dataclass(frozen=True)
class RunOptions:
    """How a run judges the target: which clauses, how hard, how long."""

    strict: bool = setting(
        "SHOULD clauses fail the run too", flag="--strict", switch=True, default=False
    )
    only: tuple[str, ...] = setting(
        "only clauses matching a glob, e.g. 'SSE-*'", flag="--only", repeat=True, metavar="GLOB"
    )
    skip: tuple[str, ...] = setting(
        "leave out clauses matching a glob, e.g. 'SOAK-*'",
        flag="--skip",
        repeat=True,
        metavar="GLOB",
    )
    fuzz_max_examples: int = setting(
        "fuzz suite: generated examples per operation",
        metavar="N",
        flag="--max-examples",
        parse=int,
        default=100,
    )
    fuzz_seed: int | None = setting(
        "fuzz suite: randomize with this seed (default: derandomized, reproducible)",
        metavar="N",
        flag="--fuzz-seed",
        parse=int,
    )
    soak_duration: float | None = setting(
        "soak suite: storm for this long, e.g. 60, 90s, 10m (default: a few seconds)",
        flag="--soak",
        parse=duration,
        metavar="DURATION",
    )
    clause_report: Path | None = setting("write the JSON clause report here", parse=Path)

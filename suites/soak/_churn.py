"""SOAK-CHURN-MEMORY's measurement: what a sidecar *keeps* while finished sessions churn
beyond its retention, for a garbage-collected runtime too.

A garbage-collected runtime (V8, the JVM, Go) grows its reserved heap in steps until the
heap fits the work, whatever it retains: RSS measured over a few hundred sessions right
after retention filled can read that growth as a leak. So, after the warm-up that fills
retention, sessions run on in rounds until one round grows RSS by no more than its
allowance (the heap reached its steady state), and only then is the growth of N more
sessions judged; a result out of bounds is measured once more (heap growth settles, a leak
grows again). Beside RSS the message gives how many of the churned sessions the target
still answers for (read over the wire: ``GET /status`` of each), which tells the two apart.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from contract import SoakRules, retention_rules, status_for
from suites.clientkit.client import SidecarClient
from suites.plugin.churn import Churn
from suites.plugin.target import TargetOptions

MIB = 2**20
READABLE = status_for("getSessionStatus", "status")
HOW_TO_TELL = (
    "heap growth or a leak? A leak keeps finished sessions (the retained count exceeds "
    "MAX_RETAINED_SESSIONS) or grows again when re-measured; a garbage-collected heap "
    "settles: compare the live heap after a full collection (Node: --expose-gc and "
    "process.memoryUsage().heapUsed after gc()), or run longer with --soak 10m"
)
"""What the failure message says about telling heap growth from a leak."""

Rss = Callable[[], float]


@dataclass(frozen=True)
class Settling:
    """How the warm-up went after retention filled: rounds run and whether RSS settled."""

    rounds: int
    sessions: int
    settled: bool
    growth: list[float]
    """RSS growth of each round (bytes)."""

    def text(self, rules: SoakRules) -> str:
        steps = ", ".join(f"{g / 1024:+.0f}" for g in self.growth) or "none"
        state = "settled" if self.settled else "not settled"
        allowed = rules.churn_allowed(rules.churn_settle_sessions) / 1024
        return (
            f"then {self.sessions} sessions in {self.rounds} round(s) until RSS settled "
            f"({state}: KiB per round {steps}; settled at <= {allowed:.0f} KiB)"
        )


def settle(churn: Churn, rss: Rss, rules: SoakRules) -> Settling:
    """Rounds of sessions until one grows RSS within its allowance (or the last round)."""
    size = rules.churn_settle_sessions
    growth: list[float] = []
    before = rss()
    sessions = 0
    for _ in range(rules.churn_settle_max_rounds):
        sessions += churn.run(count=size)
        after = rss()
        growth.append(after - before)
        if after - before <= rules.churn_allowed(size):
            return Settling(len(growth), sessions, True, growth)
        before = after
    return Settling(len(growth), sessions, False, growth)


def retained(sidecar: SidecarClient, session_ids: list[str]) -> int:
    """How many of ``session_ids`` the target still answers for."""
    return sum(1 for s in session_ids if sidecar.status(s).status_code == READABLE)


def retained_text(count: int, of: int, target: TargetOptions) -> str:
    cap = target.max_retained_sessions
    declared = f" (MAX_RETAINED_SESSIONS {cap})" if cap is not None else ""
    return f"still retained: {count} of the {of} sessions churned{declared}"


@dataclass(frozen=True)
class Measured:
    """One measured churn: N sessions and what RSS did meanwhile."""

    completed: int
    took: float
    before: float
    after: float
    allowed: float
    kept: int
    churned: int

    @property
    def growth(self) -> float:
        return self.after - self.before

    @property
    def ok(self) -> bool:
        return self.growth <= self.allowed


def measure(
    churn: Churn,
    sidecar: SidecarClient,
    rss: Rss,
    rules: SoakRules,
    count: int | None,
    seconds: float | None,
) -> Measured:
    """N more sessions (or as many as ``seconds`` allow), RSS before and after, and how
    many of every session churned so far the target still keeps."""
    before = rss()
    started = time.monotonic()
    completed = churn.run(count=count, seconds=seconds)
    took = time.monotonic() - started
    time.sleep(retention_rules().sweep_tolerance_seconds)
    after = rss()
    kept = retained(sidecar, churn.finished)
    return Measured(
        completed, took, before, after, rules.churn_allowed(completed), kept, len(churn.finished)
    )


def figures(m: Measured, target: TargetOptions) -> str:
    return (
        f"{m.completed} sessions in {m.took:.1f} s: RSS {m.before / MIB:.1f} -> "
        f"{m.after / MIB:.1f} MiB ({m.growth / 1024:+.0f} KiB, "
        f"{m.growth / max(m.completed, 1) / 1024:.2f} KiB per completed session; allowed "
        f"{m.allowed / 1024:.0f} KiB); {retained_text(m.kept, m.churned, target)}"
    )


def reproduce(target: TargetOptions) -> str:
    """The verify command that runs this check alone against the same target."""
    parts = ["opencode-sidecar", "verify", "--target", target.url, "--suite", "soak"]
    parts += ["--only", "SOAK-CHURN-MEMORY"]
    if target.pid is not None:
        parts += ["--pid", str(target.pid)]
    if target.max_retained_sessions is not None:
        parts += ["--max-retained-sessions", str(target.max_retained_sessions)]
    if target.session_retention is not None:
        parts += ["--session-retention", f"{target.session_retention:g}"]
    if target.max_sessions is not None:
        parts += ["--max-sessions", str(target.max_sessions)]
    command = shlex.join(parts)
    return command + (' --secret "$OPENCODE_SHARED_SECRET"' if target.secret else "")

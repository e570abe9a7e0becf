"""From samples to a pod ``resources:`` recommendation, with the method written beside it.

Method (ideas from the Kubernetes VPA recommender, simplified to one run):

* requests: the p90 of observed usage plus a 15 % safety margin (VPA's target is a
  percentile of a decaying usage histogram with the same margin). Floors: 50m CPU, 64Mi.
* memory limit: the peak RSS plus the memory slope per session times the sessions the pod
  may run beyond what was observed (MAX_CONCURRENT_SESSIONS minus the peak observed),
  times the safety margin. VPA caps limits proportionally to requests instead; we size the
  limit from the workload's own growth, because an OOM kill loses every running session.
  It is never below the worst footprint seen (:func:`worst_session_footprint`): the idle
  RSS plus MAX_CONCURRENT_SESSIONS times the most one session was seen to add, times the
  margin. The slope is an average; a session's heaviest step (its tool child starting)
  is not, and a short run's peak rarely catches every session at it at once.
* cpu limit: 2x the p99 (CPU is compressible: throttling slows sessions but kills none).
* memory slope: a least-squares fit of RSS against active sessions (the `step` profile
  makes it meaningful); ``None`` when the run gives too few distinct session counts.
* growth over time (:mod:`loadtests.growth`): after a warm-up, RSS fitted against
  completed sessions (KiB per session) and against time (MiB per hour at the profile's
  rate). Significant growth is folded into the memory limit over a stated horizon
  (``--horizon``, default 24 h): limit = (peak + slope x sessions beyond those observed +
  MiB/h x horizon) x margin. When the horizon's growth alone would exceed the peak RSS
  (:data:`REFUSE_RATIO`) no limit is recommended: one line says memory grows without
  bound and by how much (a limit would only schedule the OOM kill).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from loadtests.growth import Growth, measure_growth
from loadtests.sampler import Sample
from suites.clientkit.stats import percentile

SAFETY_MARGIN = 1.15
DEFAULT_HORIZON_HOURS = 24.0
REFUSE_RATIO = 1.0
"""Refuse a memory limit when the growth over the horizon exceeds this times the peak RSS."""
MIN_CPU_MILLI = 50
MIN_MEMORY_MIB = 64


def memory_slope(samples: list[Sample]) -> float | None:
    """MiB per active session (least squares), or None without enough spread."""
    points = [(s.active_sessions, s.rss_mib) for s in samples if s.active_sessions is not None]
    xs = [float(x) for x, _ in points if x is not None]
    if len(set(xs)) < 3:
        return None
    ys = [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return max(0.0, cov / var) if var else None


def worst_session_footprint(samples: list[Sample]) -> tuple[float, float] | None:
    """(idle MiB, the most MiB one session was seen to add): the least RSS of the samples
    without active sessions (of all counted samples when none is idle), and the largest
    (RSS - idle) / sessions of the others; None without a sample with active sessions."""
    counted = [(s.active_sessions, s.rss_mib) for s in samples if s.active_sessions is not None]
    busy = [(n, rss) for n, rss in counted if n > 0]
    if not busy:
        return None
    idle = min([rss for n, rss in counted if n == 0] or [rss for _, rss in counted])
    return idle, max(max(0.0, rss - idle) / n for n, rss in busy)


@dataclass(frozen=True)
class Recommendation:
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_mi: int
    memory_limit_mi: int | None
    """``None``: refused (memory grows without bound, see :attr:`refused`)."""
    memory_per_session_mib: float | None
    observed: dict[str, float]
    growth: Growth | None = None
    horizon_hours: float = DEFAULT_HORIZON_HOURS
    growth_folded_mib: float = 0.0
    """MiB of growth over the horizon included in the memory limit."""
    refused: str | None = None
    """One line: why no memory limit is recommended."""

    def resources_yaml(self, max_sessions: int) -> str:
        slope = (
            f"{self.memory_per_session_mib:.1f} MiB/session"
            if self.memory_per_session_mib is not None
            else "not measurable in this run"
        )
        growth = self.growth.describe() if self.growth is not None else "not measured"
        head = (
            "# Recommended by `opencode-sidecar load` from measured usage (see report.html).\n"
            f"# requests = p90 usage x {SAFETY_MARGIN}; memory limit = (peak RSS + slope x\n"
            f"# sessions beyond those observed, up to MAX_CONCURRENT_SESSIONS={max_sessions},\n"
            f"# + growth over {self.horizon_hours:g} h) x {SAFETY_MARGIN}, at least (idle RSS +\n"
            f"# {max_sessions} x the most one session added + growth) x {SAFETY_MARGIN}; "
            f"cpu limit = 2 x p99 CPU.\n# Memory slope: {slope}. Growth: {growth}; folded: "
            + ("none (refused)" if self.refused else f"{self.growth_folded_mib:.0f} MiB")
            + ".\n"
        )
        if self.refused is not None:
            head += f"# REFUSED: {self.refused}\n"
        memory_limit = (
            f"    memory: {self.memory_limit_mi}Mi\n" if self.memory_limit_mi is not None else ""
        )
        return (
            head + "resources:\n"
            "  requests:\n"
            f"    cpu: {self.cpu_request_m}m\n"
            f"    memory: {self.memory_request_mi}Mi\n"
            "  limits:\n"
            f"    cpu: {self.cpu_limit_m}m\n" + memory_limit
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def refusal(growth: Growth, horizon_hours: float, added_mib: float, peak_mib: float) -> str:
    """The one line that refuses a memory limit."""
    per_session = (
        f"{growth.kib_per_session:.1f} KiB per completed session, "
        if growth.kib_per_session is not None
        else ""
    )
    return (
        f"memory grows without bound: {per_session}{growth.mib_per_hour:.0f} MiB/h at the "
        f"profile's rate, +{added_mib / 1024:.1f} GiB over {horizon_hours:g} h "
        f"(peak {peak_mib:.0f} MiB); fix the growth (retention?) rather than set a limit"
    )


def recommend(
    samples: list[Sample],
    max_sessions: int,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
    warmup_s: float | None = None,
) -> Recommendation:
    cpu = [s.cpu_cores * 1000 for s in samples]
    rss = [s.rss_mib for s in samples]
    sessions = [s.active_sessions for s in samples if s.active_sessions is not None]
    peak_sessions = max(sessions, default=0.0)
    slope = memory_slope(samples)
    headroom = max(0.0, max_sessions - peak_sessions) * (slope or 0.0)
    peak_rss = max(rss, default=0.0)
    growth = measure_growth(samples, warmup_s)
    added = 0.0
    if growth is not None and growth.significant:
        added = max(0.0, growth.mib_per_hour) * horizon_hours
    footprint = worst_session_footprint(samples)
    worst_case = footprint[0] + max_sessions * footprint[1] if footprint else 0.0
    refused = None
    if growth is not None and added > REFUSE_RATIO * peak_rss:
        refused = refusal(growth, horizon_hours, added, peak_rss)
    limit = max(
        MIN_MEMORY_MIB,
        math.ceil(percentile(rss, 0.9) * SAFETY_MARGIN),
        math.ceil((peak_rss + headroom + added) * SAFETY_MARGIN),
        math.ceil((worst_case + added) * SAFETY_MARGIN),
    )
    return Recommendation(
        cpu_request_m=max(MIN_CPU_MILLI, math.ceil(percentile(cpu, 0.9) * SAFETY_MARGIN)),
        cpu_limit_m=max(2 * MIN_CPU_MILLI, math.ceil(2 * percentile(cpu, 0.99))),
        memory_request_mi=max(MIN_MEMORY_MIB, math.ceil(percentile(rss, 0.9) * SAFETY_MARGIN)),
        memory_limit_mi=None if refused is not None else limit,
        memory_per_session_mib=None if slope is None else round(slope, 2),
        observed={
            "cpu_p90_m": round(percentile(cpu, 0.9), 1),
            "cpu_p99_m": round(percentile(cpu, 0.99), 1),
            "cpu_peak_m": round(max(cpu, default=0.0), 1),
            "rss_p90_mib": round(percentile(rss, 0.9), 1),
            "rss_peak_mib": round(peak_rss, 1),
            "sessions_peak": peak_sessions,
            # absent, not 0, when no sample had an active session
            **(
                {
                    "rss_idle_mib": round(footprint[0], 1),
                    "rss_per_session_worst_mib": round(footprint[1], 2),
                }
                if footprint
                else {}
            ),
        },
        growth=growth,
        horizon_hours=horizon_hours,
        growth_folded_mib=round(added, 1),
        refused=refused,
    )

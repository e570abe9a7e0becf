"""From samples to a pod ``resources:`` recommendation, with the method written beside it.

Method (ideas from the Kubernetes VPA recommender, simplified to one run):

* requests: the p90 of observed usage plus a 15 % safety margin (VPA's target is a
  percentile of a decaying usage histogram with the same margin). Floors: 50m CPU, 64Mi.
* memory limit: the peak RSS plus the memory slope per session times the sessions the pod
  may run beyond what was observed (MAX_CONCURRENT_SESSIONS minus the peak observed),
  times the safety margin. VPA caps limits proportionally to requests instead; we size the
  limit from the workload's own growth, because an OOM kill loses every running session.
* cpu limit: 2x the p99 (CPU is compressible: throttling slows sessions but kills none).
* memory slope: a least-squares fit of RSS against active sessions (the `step` profile
  makes it meaningful); ``None`` when the run gives too few distinct session counts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from loadtests.sampler import Sample
from suites.clientkit.stats import percentile

SAFETY_MARGIN = 1.15
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


@dataclass(frozen=True)
class Recommendation:
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_mi: int
    memory_limit_mi: int
    memory_per_session_mib: float | None
    observed: dict[str, float]

    def resources_yaml(self, max_sessions: int) -> str:
        slope = (
            f"{self.memory_per_session_mib:.1f} MiB/session"
            if self.memory_per_session_mib is not None
            else "not measurable in this run"
        )
        return (
            "# Recommended by `opencode-sidecar load` from measured usage (see report.html).\n"
            f"# requests = p90 usage x {SAFETY_MARGIN}; memory limit = (peak RSS + slope x\n"
            f"# sessions beyond those observed, up to MAX_CONCURRENT_SESSIONS={max_sessions})\n"
            f"# x {SAFETY_MARGIN}; cpu limit = 2 x p99 CPU. Memory slope: {slope}.\n"
            "resources:\n"
            "  requests:\n"
            f"    cpu: {self.cpu_request_m}m\n"
            f"    memory: {self.memory_request_mi}Mi\n"
            "  limits:\n"
            f"    cpu: {self.cpu_limit_m}m\n"
            f"    memory: {self.memory_limit_mi}Mi\n"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def recommend(samples: list[Sample], max_sessions: int) -> Recommendation:
    cpu = [s.cpu_cores * 1000 for s in samples]
    rss = [s.rss_mib for s in samples]
    sessions = [s.active_sessions for s in samples if s.active_sessions is not None]
    peak_sessions = max(sessions, default=0.0)
    slope = memory_slope(samples)
    headroom = max(0.0, max_sessions - peak_sessions) * (slope or 0.0)
    peak_rss = max(rss, default=0.0)
    return Recommendation(
        cpu_request_m=max(MIN_CPU_MILLI, math.ceil(percentile(cpu, 0.9) * SAFETY_MARGIN)),
        cpu_limit_m=max(2 * MIN_CPU_MILLI, math.ceil(2 * percentile(cpu, 0.99))),
        memory_request_mi=max(MIN_MEMORY_MIB, math.ceil(percentile(rss, 0.9) * SAFETY_MARGIN)),
        memory_limit_mi=max(
            MIN_MEMORY_MIB,
            math.ceil(percentile(rss, 0.9) * SAFETY_MARGIN),
            math.ceil((peak_rss + headroom) * SAFETY_MARGIN),
        ),
        memory_per_session_mib=None if slope is None else round(slope, 2),
        observed={
            "cpu_p90_m": round(percentile(cpu, 0.9), 1),
            "cpu_p99_m": round(percentile(cpu, 0.99), 1),
            "cpu_peak_m": round(max(cpu, default=0.0), 1),
            "rss_p90_mib": round(percentile(rss, 0.9), 1),
            "rss_peak_mib": round(peak_rss, 1),
            "sessions_peak": peak_sessions,
        },
    )

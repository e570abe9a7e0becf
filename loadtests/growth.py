"""Memory growth over a pod's lifetime: RSS fitted against completed sessions and against
time, after a warm-up (the part of a run in which retention fills and caches warm).

A controlled load test measures growth directly instead of waiting for days of production
history (what VPA and KRR need): least squares of RSS against the sessions-finished counter
of ``/metrics`` gives KiB kept per completed session, against time MiB per hour at the
profile's rate. Samples are thinned to the median of each :data:`THIN_SECONDS` window, the
slope's standard error is widened for autocorrelated residuals (neighbouring samples are
not independent), and a slope is folded into sizing only when it is significant (more than
:data:`SIGNIFICANCE` standard errors above zero: garbage-collected runtimes swing by hundreds
of MiB, and such swings must not read as growth); it is called growth without bound (a
leak) when it is also above the contract's churn allowance per session (``stream.yaml``
``soak.churn_bytes_per_session``).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from contract import soak_rules
from loadtests.sampler import Sample

WARMUP_FRACTION = 1 / 3
"""The default warm-up: the first third of the run."""
THIN_SECONDS = 5.0
SIGNIFICANCE = 2.0
MIN_POINTS = 6


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    stderr: float

    @property
    def significant(self) -> bool:
        return self.slope > SIGNIFICANCE * self.stderr


def fit(xs: Sequence[float], ys: Sequence[float]) -> Fit | None:
    """Ordinary least squares of ``ys`` on ``xs`` with the slope's standard error."""
    n = len(xs)
    if n < MIN_POINTS or len(set(xs)) < 3:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residuals = [y - intercept - slope * x for x, y in zip(xs, ys, strict=True)]
    stderr = math.sqrt(sum(r * r for r in residuals) / (n - 2) / sxx)
    return Fit(slope, intercept, stderr * _autocorrelation_factor(residuals))


def _autocorrelation_factor(residuals: Sequence[float]) -> float:
    """How much to widen the standard error for residuals that follow each other (a GC
    sawtooth): sqrt(n / n_eff) with n_eff = n (1 - r) / (1 + r), r the lag-1
    autocorrelation (the usual AR(1) correction)."""
    total = sum(r * r for r in residuals)
    if total == 0:
        return 1.0
    lag1 = sum(a * b for a, b in itertools.pairwise(residuals)) / total
    lag1 = min(max(lag1, 0.0), 0.95)
    return math.sqrt((1 + lag1) / (1 - lag1))


@dataclass(frozen=True)
class Growth:
    """How the target's memory grows after the warm-up."""

    warmup_s: float
    window_s: float
    kib_per_session: float | None
    """RSS kept per completed session (KiB), ``None`` without the finished counter."""
    kib_per_session_stderr: float | None
    mib_per_hour: float
    """RSS growth per hour at the profile's rate."""
    mib_per_hour_stderr: float
    sessions_per_hour: float | None
    significant: bool
    """The growth over time is significant (folded into a memory limit)."""
    grows: bool
    """Significant growth above the contract's per-session allowance (a leak, not noise)."""
    rss_at: dict[str, float]
    """RSS (MiB) at 1, 5, 10 ... minutes, where the run reached them."""
    line: tuple[float, float]
    """The fitted RSS line over time after the warm-up: (intercept MiB, slope MiB/s)."""

    def describe(self) -> str:
        per_session = (
            f"{self.kib_per_session:+.2f} KiB per completed session"
            if self.kib_per_session is not None
            else "per-session growth not measurable (no sessions-finished counter)"
        )
        rate = f" at {self.sessions_per_hour:.0f} sessions/h" if self.sessions_per_hour else ""
        verdict = (
            "grows"
            if self.grows
            else "creeps (significant, within the churn allowance)"
            if self.significant
            else "flat (no significant growth)"
        )
        return (
            f"memory {verdict} after a {self.warmup_s:.0f} s warm-up: {per_session}, "
            f"{self.mib_per_hour:+.1f} ± {self.mib_per_hour_stderr:.1f} MiB/h{rate}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _thinned(samples: Sequence[Sample]) -> list[Sample]:
    """One sample per :data:`THIN_SECONDS` window: its median RSS (a short-lived child, e.g.
    a forked tool whose RSS counts the parent's shared pages again, is one spike among the
    window's samples, not a point of the fit), with the window's last counter values."""
    kept: list[Sample] = []
    window: list[Sample] = []
    for sample in samples:
        if window and sample.t - window[0].t >= THIN_SECONDS:
            kept.append(_median_of(window))
            window = []
        window.append(sample)
    if window:
        kept.append(_median_of(window))
    return kept


def _median_of(window: Sequence[Sample]) -> Sample:
    return replace(window[-1], rss_mib=statistics.median(s.rss_mib for s in window))


def _rss_at(samples: Sequence[Sample]) -> dict[str, float]:
    found: dict[str, float] = {}
    end = samples[-1].t if samples else 0.0
    for minutes in (1, 5, 10, 15, 20, 30):
        if minutes * 60 <= end + THIN_SECONDS:
            nearest = min(samples, key=lambda s: abs(s.t - minutes * 60))
            found[f"{minutes} min"] = round(nearest.rss_mib, 1)
    return found


def measure_growth(samples: Sequence[Sample], warmup_s: float | None = None) -> Growth | None:
    """Fit growth after the warm-up (default :data:`WARMUP_FRACTION` of the run)."""
    if not samples:
        return None
    end = samples[-1].t
    warmup = end * WARMUP_FRACTION if warmup_s is None else min(warmup_s, end)
    window = _thinned([s for s in samples if s.t >= warmup])
    over_time = fit([s.t for s in window], [s.rss_mib for s in window])
    if over_time is None:
        return None
    counted = [s for s in window if s.finished_sessions is not None]
    per_session = fit(
        [float(s.finished_sessions or 0) for s in counted], [s.rss_mib * 1024 for s in counted]
    )
    rate = fit([s.t for s in counted], [float(s.finished_sessions or 0) for s in counted])
    allowance_kib = soak_rules().churn_bytes_per_session / 1024
    significant = over_time.significant and (per_session is None or per_session.significant)
    if per_session is not None:
        grows = significant and per_session.slope > allowance_kib
    else:
        grows = significant
    return Growth(
        warmup_s=round(warmup, 1),
        window_s=round(end - warmup, 1),
        kib_per_session=None if per_session is None else round(per_session.slope, 3),
        kib_per_session_stderr=None if per_session is None else round(per_session.stderr, 3),
        mib_per_hour=round(over_time.slope * 3600, 2),
        mib_per_hour_stderr=round(over_time.stderr * 3600, 2),
        sessions_per_hour=None if rate is None else round(rate.slope * 3600, 1),
        significant=significant,
        grows=grows,
        rss_at=_rss_at(samples),
        line=(over_time.intercept, over_time.slope),
    )

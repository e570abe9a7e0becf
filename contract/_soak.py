"""The ``soak:`` section of ``stream.yaml``: bounds of the disconnect-hygiene clauses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from contract._files import STREAM_PATH, load_data


@dataclass(frozen=True)
class SoakRules:
    """Bounds of the ``SOAK-*`` clauses, and the size of the default run."""

    release_seconds: float
    probe_p99_ms: float
    probe_timeout_seconds: float
    timing_tolerance_factor: float
    rss_tolerance_ratio: float
    rss_tolerance_bytes: int
    fd_tolerance: int
    stalled_reader_bytes: int
    stalled_receive_buffer: int
    cycles: int
    streams_per_cycle: int
    stalled_readers: int
    flood_scenario: str
    scenario: str
    churn_bytes_per_session: int
    churn_fixed_bytes: int
    churn_scenario: str
    churn_concurrency: int
    churn_warmup_max_sessions: int
    churn_settle_sessions: int
    churn_settle_max_rounds: int
    churn_sessions: int

    def rss_allowed(self, baseline: float) -> float:
        """The largest RSS still "near" ``baseline``."""
        return max(baseline * (1 + self.rss_tolerance_ratio), baseline + self.rss_tolerance_bytes)

    def churn_allowed(self, sessions: int) -> float:
        """The RSS growth ``sessions`` completed sessions beyond retention may cost."""
        return self.churn_fixed_bytes + self.churn_bytes_per_session * sessions

    def within_band(self, value: float, bound: float) -> bool:
        """A timing result passes up to ``bound`` x the tolerance factor."""
        return value <= bound * self.timing_tolerance_factor


@cache
def soak_rules() -> SoakRules:
    raw = load_data(STREAM_PATH)["soak"]
    default = raw["default"]
    return SoakRules(
        release_seconds=float(raw["release_seconds"]),
        probe_p99_ms=float(raw["probe_p99_ms"]),
        probe_timeout_seconds=float(raw["probe_timeout_seconds"]),
        timing_tolerance_factor=float(raw["timing_tolerance_factor"]),
        rss_tolerance_ratio=float(raw["rss_tolerance_ratio"]),
        rss_tolerance_bytes=int(raw["rss_tolerance_bytes"]),
        fd_tolerance=int(raw["fd_tolerance"]),
        stalled_reader_bytes=int(raw["stalled_reader_bytes"]),
        stalled_receive_buffer=int(raw["stalled_receive_buffer"]),
        cycles=int(default["cycles"]),
        streams_per_cycle=int(default["streams_per_cycle"]),
        stalled_readers=int(default["stalled_readers"]),
        flood_scenario=str(default["flood_scenario"]),
        scenario=str(default["scenario"]),
        churn_bytes_per_session=int(raw["churn_bytes_per_session"]),
        churn_fixed_bytes=int(raw["churn_fixed_bytes"]),
        churn_scenario=str(raw["churn_scenario"]),
        churn_concurrency=int(raw["churn_concurrency"]),
        churn_warmup_max_sessions=int(raw["churn_warmup_max_sessions"]),
        churn_settle_sessions=int(raw["churn_settle_sessions"]),
        churn_settle_max_rounds=int(raw["churn_settle_max_rounds"]),
        churn_sessions=int(default["churn_sessions"]),
    )

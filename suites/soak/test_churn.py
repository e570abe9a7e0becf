"""Memory under churn: once the target's retention is full, more finished sessions must
not grow its memory (SOAK-CHURN-MEMORY). This module sorts before ``test_soak.py`` so it
measures before the storms there inflate the heap (freed memory that is reused would hide
a leak)."""

from __future__ import annotations

import time

import pytest

from contract import retention_rules, soak_rules
from suites.churn import Churn
from suites.client import SidecarClient
from suites.fixtures import SessionFactory
from suites.soak._support import footprint
from suites.soak.test_soak import MIB, Note, Plan, _note, _rss_or_skip, plan
from suites.target import TargetOptions
from suites.verdict import capability_absent, check

__all__ = ["plan"]  # the fixture, shared with test_soak.py

MAX_TIME_WARMUP = 60.0
"""A retention window longer than this is not waited out (declare a cap instead)."""


def _fill_retention(churn: Churn, target: TargetOptions) -> str:
    """Run sessions until the target's retention holds as many as it ever will."""
    rules = soak_rules()
    cap, window = target.max_retained_sessions, target.session_retention
    if cap is not None and cap <= rules.churn_warmup_max_sessions:
        done = churn.run(count=cap + churn.workers)
        return f"warm-up: {done} sessions fill MAX_RETAINED_SESSIONS={cap}"
    if window is not None and window <= MAX_TIME_WARMUP:
        seconds = retention_rules().gone_by(window)
        done = churn.run(seconds=seconds)
        return f"warm-up: {done} sessions over SESSION_RETENTION={window:g} s"
    capability_absent(
        "cannot fill the target's retention: declare a MAX_RETAINED_SESSIONS of at most "
        f"{rules.churn_warmup_max_sessions} (--max-retained-sessions) or a SESSION_RETENTION "
        f"of at most {MAX_TIME_WARMUP:g} s (--session-retention)"
    )


@pytest.mark.clause("SOAK-CHURN-MEMORY")
def test_memory_stays_flat_while_sessions_churn_beyond_retention(
    sidecar: SidecarClient,
    sessions: SessionFactory,
    target: TargetOptions,
    plan: Plan,
    record_property: Note,
) -> None:
    rules = plan.rules
    _rss_or_skip(footprint(sidecar, target.pid))
    churn = Churn(sidecar, sessions, target, soak_rules().churn_concurrency)
    warmup = _fill_retention(churn, target)
    time.sleep(retention_rules().sweep_tolerance_seconds)
    before = _rss_or_skip(footprint(sidecar, target.pid))
    started = time.monotonic()
    if plan.duration is None:
        completed = churn.run(count=rules.churn_sessions)
    else:
        completed = churn.run(seconds=max(plan.duration, 1.0))
    took = time.monotonic() - started
    time.sleep(retention_rules().sweep_tolerance_seconds)
    after = _rss_or_skip(footprint(sidecar, target.pid))
    growth = after - before
    allowed = rules.churn_allowed(completed)
    figures = (
        f"{warmup}; then {completed} sessions in {took:.1f} s: RSS {before / MIB:.1f} -> "
        f"{after / MIB:.1f} MiB ({growth / 1024:+.0f} KiB, "
        f"{growth / max(completed, 1) / 1024:.2f} KiB per completed session)"
    )
    check(
        growth <= allowed,
        "memory must stay flat while finished sessions churn beyond retention",
        f"RSS growth <= {allowed / 1024:.0f} KiB ({rules.churn_fixed_bytes / MIB:g} MiB + "
        f"{rules.churn_bytes_per_session} B x {completed} sessions)",
        figures,
    )
    _note(record_property, figures)

"""Disconnect hygiene: no zombie streams, bounded buffers, memory back to baseline, and
probes that stay fast while all of it happens; and memory that stays flat while finished
sessions churn beyond the target's retention."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from contract import SoakRules, retention_rules, soak_rules
from suites.checks.verdict import (
    ClauseViolation,
    capability_absent,
    check,
    precondition_failed,
)
from suites.clientkit.client import SidecarClient
from suites.plugin.churn import Churn
from suites.plugin.fixtures import SessionFactory
from suites.plugin.outcomes import NOTE
from suites.plugin.target import RunOptions, TargetOptions
from suites.soak import _churn
from suites.soak._footprint import (
    RSS_SAMPLES,
    footprint,
    mib,
    settled_rss,
    stalled_reader_cost,
    steady_rss,
)
from suites.soak._gauges import active_streams, wait_for_streams
from suites.soak._probes import PROBE_INTERVAL_MS, ProbeSampler, Timed, timed_check
from suites.soak._sockets import (
    Leave,
    StreamRefusedError,
    StreamSocket,
    all_reset,
    has_ended,
    open_streams,
)

Note = Callable[[str, object], None]
MIB = 2**20
INF = float("inf")


STORMS = 4
# (the churn run takes one share too)
"""Checks that storm (release, probes, memory): ``--soak-duration`` is shared among them."""


@dataclass(frozen=True)
class Plan:
    """How much soak to run: the contract's bounded default, or ``--soak-duration``."""

    rules: SoakRules
    duration: float | None
    """Seconds of storm per storming check; ``None``: the default number of cycles."""

    def cycles(self) -> Iterator[int]:
        """Cycle numbers: the default count, or as many as fit in the duration."""
        if self.duration is None:
            yield from range(self.rules.cycles)
            return
        deadline = time.monotonic() + self.duration
        cycle = 0
        while cycle < self.rules.cycles or time.monotonic() < deadline:
            yield cycle
            cycle += 1


@pytest.fixture(scope="module")
def plan(run: RunOptions) -> Plan:
    duration = run.soak_duration
    return Plan(soak_rules(), duration / STORMS if duration is not None else None)


class Running:
    """A running session of the soak scenario, replaced when it ends (long runs outlast
    one ``long_running`` session)."""

    def __init__(self, sidecar: SidecarClient, sessions: SessionFactory) -> None:
        self.sidecar = sidecar
        self.sessions = sessions
        self.session_id = sessions.start(soak_rules().scenario)

    def __call__(self) -> str:
        if has_ended(self.sidecar, self.session_id):
            self.session_id = self.sessions.start(soak_rules().scenario)
        return self.session_id


def _note(record_property: Note, text: str) -> None:
    """Print the figures and attach them to the clause report's message."""
    print(text)
    record_property(NOTE, text)


def _baseline_streams(sidecar: SidecarClient) -> float:
    value = active_streams(sidecar)
    if value is None:
        capability_absent("/metrics shows no active streams gauge", clause="METRICS-FAMILIES")
    return value


def _open(
    target: TargetOptions, session_id: str, count: int, receive_buffer: int | None = None
) -> list[StreamSocket]:
    try:
        return open_streams(target.url, target.secret, session_id, count, receive_buffer)
    except StreamRefusedError as exc:
        precondition_failed("SSE-HEADERS", str(exc))


def _cycle(
    sidecar: SidecarClient,
    target: TargetOptions,
    session_id: str,
    how: Leave,
    count: int,
    baseline: float | None,
) -> float:
    """Open ``count`` streams, leave them all ``how``; seconds until the gauge is back
    (``inf`` when it is not back within the band; 0 without a ``baseline`` to wait for)."""
    rules = soak_rules()
    with all_reset(_open(target, session_id, count)) as sockets:
        time.sleep(0.1)
        for s in sockets:
            s.leave(how)
        if baseline is None:
            time.sleep(0.1)
            return 0.0
        limit = rules.release_seconds * rules.timing_tolerance_factor
        value, waited = wait_for_streams(sidecar, baseline, limit)
    return waited if value is not None and value <= baseline else INF


@pytest.mark.clause("SOAK-RELEASE-ON-RESET")
def test_streams_are_released_after_abrupt_disconnects(
    sidecar: SidecarClient,
    sessions: SessionFactory,
    target: TargetOptions,
    plan: Plan,
    record_property: Note,
) -> None:
    rules = plan.rules
    running = Running(sidecar, sessions)
    baseline_streams = _baseline_streams(sidecar)
    before = footprint(sidecar, target.pid)
    worst: dict[Leave, float] = dict.fromkeys(Leave, 0.0)
    cycles = 0
    for _ in plan.cycles():
        cycles += 1
        for how in Leave:
            if worst[how] == INF:  # not released once: another wait can only repeat it
                continue
            took = _cycle(
                sidecar, target, running(), how, rules.streams_per_cycle, baseline_streams
            )
            worst[how] = max(worst[how], took)

    def measure(how: Leave) -> Callable[[], Timed]:
        def again() -> Timed:
            took = _cycle(
                sidecar, target, running(), how, rules.streams_per_cycle, baseline_streams
            )
            return Timed(
                rules.within_band(took, rules.release_seconds), f"{how}: released in {took:.2f} s"
            )

        return again

    notes = []
    for how in Leave:
        first = Timed(
            rules.within_band(worst[how], rules.release_seconds),
            f"{how}: released in {worst[how]:.2f} s (worst of {cycles} cycles)",
        )
        result, note = (first, first.text) if first.ok else timed_check(measure(how), first)
        notes.append(note)
        check(
            result.ok,
            f"streams of {rules.streams_per_cycle} clients that left ({how}) must be released "
            f"within {rules.release_seconds:g} s (x{rules.timing_tolerance_factor:g} band)",
            f"active streams back to {baseline_streams:g}",
            note,
        )
    _, _ = wait_for_streams(sidecar, baseline_streams, rules.release_seconds)
    after = footprint(sidecar, target.pid)
    figures = f"before: {before.show()}; after: {after.show()}; " + "; ".join(notes)
    if before.fds is not None and after.fds is not None:
        check(
            after.fds <= before.fds + rules.fd_tolerance,
            f"open fds must return to their baseline (+{rules.fd_tolerance})",
            f"<= {before.fds + rules.fd_tolerance}",
            figures,
        )
    _note(record_property, figures)


@pytest.mark.clause("SOAK-PROBES-LIVE")
def test_probes_stay_fast_while_readers_stall(
    sidecar: SidecarClient,
    sessions: SessionFactory,
    target: TargetOptions,
    plan: Plan,
    record_property: Note,
) -> None:
    rules = plan.rules
    running = Running(sidecar, sessions)

    def measure() -> Timed:
        with (
            ProbeSampler(target.url) as sampler,
            all_reset(
                _open(target, running(), rules.stalled_readers, rules.stalled_receive_buffer)
            ),
        ):
            for _ in plan.cycles():
                for how in Leave:
                    _cycle(
                        sidecar,
                        target,
                        running(),
                        how,
                        rules.streams_per_cycle,
                        None,
                    )
            time.sleep(0.3)
        p99 = sampler.p99()
        text = (
            f"probe p99 {p99:.0f} ms over {sampler.sent} probes with "
            f"{rules.stalled_readers} stalled readers (corrected for coordinated omission at "
            f"one probe per {PROBE_INTERVAL_MS:g} ms)"
            + (f"; failures: {sampler.failures[:3]}" if sampler.failures else "")
        )
        return Timed(rules.within_band(p99, rules.probe_p99_ms) and not sampler.failures, text)

    first = measure()
    result, note = (first, first.text) if first.ok else timed_check(measure, first)
    check(
        result.ok,
        f"/healthz and /ready must answer within {rules.probe_p99_ms:g} ms p99 "
        f"(x{rules.timing_tolerance_factor:g} band) while readers stall",
        f"p99 <= {rules.probe_p99_ms * rules.timing_tolerance_factor:g} ms",
        note,
    )
    _note(record_property, note)


def _rss_or_skip(rss: float | None) -> float:
    if rss is None:
        capability_absent(
            "the target's RSS is not observable: give its PID, or expose "
            "process_resident_memory_bytes on /metrics",
            flag="--pid",
        )
    return rss


@pytest.mark.clause("SOAK-MEMORY-BASELINE")
def test_memory_returns_to_baseline_after_a_storm(
    sidecar: SidecarClient,
    sessions: SessionFactory,
    target: TargetOptions,
    plan: Plan,
    record_property: Note,
) -> None:
    rules = plan.rules
    _rss_or_skip(steady_rss(sidecar, target.pid))
    running = Running(sidecar, sessions)
    baseline_streams = _baseline_streams(sidecar)

    def measure() -> Timed:
        baseline = _rss_or_skip(steady_rss(sidecar, target.pid))
        disconnects = 0
        awaited: float | None = baseline_streams
        for _ in plan.cycles():
            for how in Leave:
                streams = 2 * rules.streams_per_cycle
                took = _cycle(sidecar, target, running(), how, streams, awaited)
                if took == INF:  # streams not released (SOAK-RELEASE-ON-RESET): storm on
                    awaited = None
                disconnects += streams
        wait_for_streams(sidecar, baseline_streams, rules.release_seconds)
        time.sleep(0.3)
        after = _rss_or_skip(steady_rss(sidecar, target.pid))
        allowed = rules.rss_allowed(baseline)
        text = (
            f"RSS after {disconnects} disconnects {mib(after)} <= allowed {mib(allowed)} = "
            f"max(baseline {mib(baseline)} x {1 + rules.rss_tolerance_ratio:g}, baseline + "
            f"{mib(rules.rss_tolerance_bytes)}) (medians of {RSS_SAMPLES} readings)"
        )
        return Timed(after <= allowed, text)

    result, note = timed_check(measure, measure())
    check(
        result.ok,
        "RSS must return near its baseline after a storm of disconnects",
        "RSS within its baseline's tolerance",
        note,
    )
    _note(record_property, note)


def _drain(sidecar: SidecarClient, session_id: str) -> None:
    """Read a whole stream as fast as possible (bytes only)."""
    with sidecar.open_stream(session_id, read_timeout=60.0) as stream:
        for _ in stream.chunks():
            pass


@pytest.mark.clause("SOAK-BOUNDED-BUFFER")
def test_stalled_readers_cannot_grow_server_buffers(
    sidecar: SidecarClient,
    sessions: SessionFactory,
    target: TargetOptions,
    plan: Plan,
    record_property: Note,
) -> None:
    rules = plan.rules
    readers = rules.stalled_readers
    _rss_or_skip(steady_rss(sidecar, target.pid))

    def measure() -> Timed:
        start = _rss_or_skip(steady_rss(sidecar, target.pid))
        # A control: the same large output, read by one fast reader only.
        _drain(sidecar, sessions.start(rules.flood_scenario))
        control = _rss_or_skip(steady_rss(sidecar, target.pid))
        session_id = sessions.start(rules.flood_scenario)
        with all_reset(_open(target, session_id, readers, rules.stalled_receive_buffer)):
            _drain(sidecar, session_id)
            time.sleep(0.5)
            held = _rss_or_skip(settled_rss(sidecar, target.pid))
        per_reader, formula = stalled_reader_cost(start, control, held, readers)
        text = f"{formula} (medians of {RSS_SAMPLES} readings)"
        return Timed(per_reader <= rules.stalled_reader_bytes, text)

    result, note = timed_check(measure, measure())
    check(
        result.ok,
        "a reader that stops reading must cost the server bounded memory",
        f"<= {rules.stalled_reader_bytes / MIB:g} MiB per stalled reader",
        note,
    )
    _note(record_property, note)


# ------------------------------------------------------------------ memory under churn
# Last in the module: the checks above assert growth of memory their own storms cause, and
# a heap the churn inflated first would absorb it (freed memory is reused before RSS grows).
# The churn check is therefore a lower bound for leaks of memory the storms freed too.
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
        f"{rules.churn_warmup_max_sessions} or a SESSION_RETENTION of at most "
        f"{MAX_TIME_WARMUP:g} s (or pass --session-retention)",
        flag="--max-retained-sessions",
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
    _rss_or_skip(steady_rss(sidecar, target.pid))

    def rss() -> float:
        return _rss_or_skip(steady_rss(sidecar, target.pid))

    churn = Churn(sidecar, sessions, target, soak_rules().churn_concurrency)
    warmup = _fill_retention(churn, target)
    settling = _churn.settle(churn, rss, rules)
    count = rules.churn_sessions if plan.duration is None else None
    seconds = None if plan.duration is None else max(plan.duration, 1.0)

    def measure() -> Timed:
        measured = _churn.measure(churn, sidecar, rss, rules, count, seconds)
        return Timed(measured.ok, _churn.figures(measured, target))

    result, note = timed_check(measure, measure())
    text = f"{warmup}; {settling.text(rules)}; {note}"
    _note(record_property, text)
    if not result.ok:
        raise ClauseViolation(
            "memory must stay flat while finished sessions churn beyond retention; "
            + _churn.HOW_TO_TELL,
            f"RSS growth <= {rules.churn_fixed_bytes / MIB:g} MiB + "
            f"{rules.churn_bytes_per_session} B x N sessions, once RSS settled",
            text,
            _churn.reproduce(target),
        )

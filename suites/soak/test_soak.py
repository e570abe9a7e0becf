"""Disconnect hygiene: no zombie streams, bounded buffers, memory back to baseline, and
probes that stay fast while all of it happens."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from contract import SoakRules, soak_rules
from suites.client import SidecarClient
from suites.fixtures import SessionFactory
from suites.outcomes import NOTE
from suites.soak._support import (
    RSS_SAMPLES,
    Leave,
    ProbeSampler,
    StreamRefusedError,
    StreamSocket,
    Timed,
    active_streams,
    all_reset,
    footprint,
    has_ended,
    mib,
    open_streams,
    settled_rss,
    stalled_reader_cost,
    steady_rss,
    timed_check,
    wait_for_streams,
)
from suites.target import TargetOptions
from suites.verdict import capability_absent, check, precondition_failed

Note = Callable[[str, object], None]
MIB = 2**20


STORMS = 3
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
def plan(target: TargetOptions) -> Plan:
    duration = target.soak_duration
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
    return waited if value is not None and value <= baseline else float("inf")


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
            f"probe p99 {p99:.0f} ms over {len(sampler.latencies_ms)} probes with "
            f"{rules.stalled_readers} stalled readers"
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
        for _ in plan.cycles():
            for how in Leave:
                streams = 2 * rules.streams_per_cycle
                _cycle(sidecar, target, running(), how, streams, baseline_streams)
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

"""Stream clauses (STREAM_RULES.md), judged on recorded reads of real sessions."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest

from contract import status_for, stream_rules, validate_event
from suites.client import SidecarClient
from suites.conformance._expect import expect_error_body, expect_status
from suites.fixtures import CHATTY, RecordedRun, SessionFactory
from suites.recording import Recording, data_of, record
from suites.verdict import check, precondition_failed

EVENT_STREAM = "text/event-stream"


def _need_stream(rec: Recording) -> None:
    if rec.status_code != 200:
        precondition_failed("SSE-CONTENT-TYPE", f"the stream answered HTTP {rec.status_code}")


def _ids(rec: Recording) -> list[int]:
    """The ids of the history, when every one is a decimal integer (else a precondition)."""
    ids = []
    for event in rec.numbered():
        if event.id is None or not stream_rules().id_pattern.match(event.id):
            precondition_failed("SSE-IDS-PRESENT", f"event {event.event} has id {event.id!r}")
        ids.append(int(event.id))
    return ids


def _finished(rec: Recording) -> None:
    if rec.terminal_index() is None:
        precondition_failed("SSE-ONE-TERMINAL", "the session's stream has no terminal event")


@pytest.mark.clause("SSE-CONTENT-TYPE")
def test_stream_is_text_event_stream(hello_run: RecordedRun) -> None:
    rec = hello_run.live
    check(
        rec.status_code == status_for("streamSession", "stream"),
        "the stream must answer 200",
        "HTTP 200",
        f"HTTP {rec.status_code}",
        rec.response,
    )
    content_type = rec.headers.get("content-type", "")
    check(
        content_type.split(";")[0].strip() == EVENT_STREAM,
        "Content-Type must be event-stream",
        EVENT_STREAM,
        content_type,
        rec.response,
    )


@pytest.mark.clause("SSE-NO-CACHE")
def test_stream_is_not_cached(hello_run: RecordedRun) -> None:
    _need_stream(hello_run.live)
    value = hello_run.live.headers.get("cache-control", "")
    check(
        "no-cache" in value.lower(),
        "the stream must carry Cache-Control: no-cache",
        "no-cache",
        value or "(missing)",
        hello_run.live.response,
    )


@pytest.mark.clause("SSE-NO-BUFFERING")
def test_stream_is_not_buffered_by_proxies(hello_run: RecordedRun) -> None:
    _need_stream(hello_run.live)
    value = hello_run.live.headers.get("x-accel-buffering", "")
    check(
        value.lower() == "no",
        "the stream must carry X-Accel-Buffering: no",
        "no",
        value or "(missing)",
        hello_run.live.response,
    )


@pytest.mark.clause("SSE-WELL-FORMED")
def test_stream_is_well_formed(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    for rec in (hello_run.live, hello_run.replay, failed_run.live):
        _need_stream(rec)
        errors = [v for v in rec.violations if v.severity in ("error", "warning")]
        check(
            not errors,
            "the stream must follow the WHATWG event-stream format",
            "no violations",
            "; ".join(f"{v.code}: {v.message}" for v in errors[:5]),
            rec.response,
        )


@pytest.mark.clause("SSE-EVENT-TYPES")
def test_event_types_are_the_contracts(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    known = stream_rules().event_types
    for rec in (hello_run.live, failed_run.live):
        _need_stream(rec)
        unknown = sorted({e.event for e in rec.events} - known)
        check(
            not unknown,
            "every event type must be one of the contract's",
            sorted(known),
            unknown,
            rec.response,
        )


@pytest.mark.clause("SSE-EVENT-SCHEMA")
def test_event_data_fits_its_schema(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    known = stream_rules().event_types
    for rec in (hello_run.live, failed_run.live):
        _need_stream(rec)
        for event in rec.events:
            if event.event not in known:
                continue  # SSE-EVENT-TYPES reports it
            problems = validate_event(event.event, event.data)
            check(
                not problems,
                f"{event.event} data must fit events/{event.event}.json",
                "valid data",
                f"{event.data[:200]} -> {'; '.join(map(str, problems[:3]))}",
                rec.response,
            )


@pytest.mark.clause("SSE-IDS-PRESENT")
def test_history_events_carry_ids(hello_run: RecordedRun) -> None:
    _need_stream(hello_run.live)
    missing = [e.event for e in hello_run.live.numbered() if e.id is None]
    check(
        not missing,
        "every event but heartbeat must carry an id",
        "an id on each event",
        f"no id on: {missing}",
        hello_run.live.response,
    )


@pytest.mark.clause("SSE-IDS-INCREASE")
def test_ids_strictly_increase(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    for rec in (hello_run.live, failed_run.live):
        _need_stream(rec)
        if any(e.id is None for e in rec.numbered()):
            precondition_failed("SSE-IDS-PRESENT", "events without ids")
        raw = [e.id for e in rec.numbered()]
        bad = [i for i in raw if not stream_rules().id_pattern.match(str(i))]
        check(not bad, "ids must be decimal positive integers", "1, 2, 3...", bad, rec.response)
        ids = [int(i) for i in raw if i is not None]
        check(
            all(a < b for a, b in itertools.pairwise(ids)),
            "ids must strictly increase",
            "strictly increasing ids",
            ids,
            rec.response,
        )


@pytest.mark.clause("SSE-FIRST-EVENT")
def test_first_event_is_status(hello_run: RecordedRun) -> None:
    rules = stream_rules()
    history = hello_run.live.numbered()
    _need_stream(hello_run.live)
    check(
        bool(history),
        "the history must not be empty",
        "a first event",
        "no events",
        hello_run.live.response,
    )
    first = history[0]
    status = (data_of(first) or {}).get("status") if first.event == rules.first_event else None
    check(
        first.event == rules.first_event and status in rules.first_statuses,
        "the first event must be a status event with pending|running",
        f"{rules.first_event} {sorted(rules.first_statuses)}",
        f"{first.event} {first.data}",
        hello_run.live.response,
    )


@pytest.mark.clause("SSE-ONE-TERMINAL")
def test_exactly_one_terminal_event_last(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    rules = stream_rules()
    for rec in (hello_run.replay, failed_run.replay):
        _need_stream(rec)
        history = rec.numbered()
        terminals = [
            i
            for i, e in enumerate(history)
            if isinstance(data_of(e), dict) and rules.is_terminal(e.event, data_of(e))
        ]
        check(
            len(terminals) == 1,
            "a finished session must have exactly one terminal event",
            "1 terminal event",
            f"{len(terminals)}: {[history[i].event for i in terminals]}",
            rec.response,
        )
        check(
            terminals[0] == len(history) - 1,
            "the terminal event must be the last event",
            "terminal last",
            [e.event for e in history[terminals[0] :]],
            rec.response,
        )


@pytest.mark.clause("SSE-CLOSE-AFTER-TERMINAL")
def test_stream_closes_after_terminal(hello_run: RecordedRun) -> None:
    rec = hello_run.live
    _need_stream(rec)
    _finished(rec)
    extra = [e.event for e in rec.after_terminal]
    check(not extra, "nothing may follow the terminal event", "no events", extra, rec.response)
    bound = stream_rules().close_after_terminal_seconds
    assert rec.terminal_at is not None
    waited = (rec.ended_at or time.monotonic()) - rec.terminal_at
    check(
        rec.ended and waited <= bound,
        "the server must close the stream after the terminal",
        f"closed within {bound:g} s",
        "still open" if not rec.ended else f"{waited:.1f} s",
        rec.response,
    )


@pytest.mark.clause("SSE-REPLAY")
def test_late_subscriber_gets_full_history(hello_run: RecordedRun) -> None:
    _need_stream(hello_run.replay)
    live, replay = hello_run.live.history(), hello_run.replay.history()
    check(
        live == replay,
        "a late subscriber must receive the whole history, identical",
        live,
        replay,
        hello_run.replay.response,
    )


@pytest.mark.clause("SSE-FANOUT")
def test_concurrent_subscribers_get_the_same_sequence(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    session_id = sessions.start(CHATTY)
    results: dict[int, Recording] = {}

    def read(slot: int) -> None:
        results[slot] = record(sidecar, session_id, max_silence=max_silence)

    readers = [threading.Thread(target=read, args=(slot,)) for slot in range(3)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    for slot in (1, 2):
        _need_stream(results[slot])
        check(
            results[slot].history() == results[0].history(),
            "concurrent subscribers must receive the identical sequence",
            f"{len(results[0].history())} events",
            f"{len(results[slot].history())} events differing",
            results[slot].response,
        )


@pytest.mark.clause("SSE-RESUME")
def test_resume_after_forced_disconnect(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    session_id = sessions.start(CHATTY)
    first = record(sidecar, session_id, max_silence=max_silence, stop_after_events=4)
    _need_stream(first)
    ids = _ids(first)
    if not ids:
        precondition_failed("SSE-FIRST-EVENT", "no event before the disconnect")
    resumed = record(sidecar, session_id, ids[-1], max_silence=max_silence)
    full = record(sidecar, session_id, max_silence=max_silence)
    if full.history()[: len(first.history())] != first.history():
        precondition_failed("SSE-REPLAY", "a full read does not start with what was read live")
    _need_stream(resumed)
    combined = first.history() + resumed.history()
    check(
        combined == full.history(),
        "resuming with Last-Event-ID must continue with no gap and no duplicate",
        [e[0] for e in full.history()],
        [e[0] for e in combined],
        resumed.response,
    )
    for middle in (ids[0], ids[len(ids) // 2]):
        again = record(sidecar, session_id, middle, max_silence=max_silence)
        expected = [e for e in full.history() if e[0] is not None and int(e[0]) > middle]
        check(
            again.history() == expected,
            f"Last-Event-ID {middle} must resume strictly after it",
            [e[0] for e in expected],
            [e[0] for e in again.history()],
            again.response,
        )


@pytest.mark.clause("SSE-RESUME-AFTER-TERMINAL")
def test_resume_after_terminal_answers_204(sidecar: SidecarClient, hello_run: RecordedRun) -> None:
    _need_stream(hello_run.replay)
    ids = _ids(hello_run.replay)
    _finished(hello_run.replay)
    with sidecar.open_stream(hello_run.session_id, ids[-1], read_timeout=5) as stream:
        expect_status(
            stream.response,
            "streamSession",
            "nothing_after",
            "Last-Event-ID = the terminal id must answer 204",
        )


@pytest.mark.clause("SSE-RESUME-MALFORMED")
def test_malformed_last_event_id_answers_400(
    sidecar: SidecarClient, hello_run: RecordedRun
) -> None:
    for bad in ("abc", "-1", "1.5", "9" * 40):
        with sidecar.open_stream(hello_run.session_id, bad, read_timeout=5) as stream:
            response = stream.response
            response.read()
            expect_status(
                response, "streamSession", "invalid", f"Last-Event-ID {bad!r} must answer 400"
            )


@pytest.mark.clause("SSE-RESUME-AHEAD")
def test_last_event_id_ahead_answers_400(sidecar: SidecarClient, hello_run: RecordedRun) -> None:
    ids = _ids(hello_run.replay)
    ahead = (ids[-1] if ids else 0) + 1000
    with sidecar.open_stream(hello_run.session_id, ahead, read_timeout=5) as stream:
        stream.response.read()
        expect_status(
            stream.response,
            "streamSession",
            "invalid",
            f"Last-Event-ID {ahead} (beyond the log) must answer 400",
        )


@pytest.mark.clause("SSE-UNKNOWN-SESSION-404")
def test_stream_of_unknown_session_answers_404(sidecar: SidecarClient) -> None:
    with sidecar.open_stream(str(uuid.uuid4()), read_timeout=5) as stream:
        stream.response.read()
        expect_status(stream.response, "streamSession", "not_found")
        expect_error_body(stream.response, "the 404 must be the JSON error body")


@pytest.mark.clause("SSE-HEARTBEAT")
def test_silent_stream_gets_heartbeats(stalled_run: Recording, max_silence: float) -> None:
    rec = stalled_run
    _need_stream(rec)
    arrivals = sorted([e.received_at for e in rec.events] + [c.received_at for c in rec.comments])
    marks = [rec.started_at, *arrivals, rec.stopped_at]
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    worst = max(gaps) if gaps else 0.0
    check(
        worst <= max_silence,
        "a silent stream must get a heartbeat within the interval",
        f"silence <= {max_silence:.1f} s",
        f"{worst:.1f} s of silence",
        rec.response,
    )


@pytest.mark.clause("SSE-HEARTBEAT-NO-ID")
def test_heartbeats_carry_no_id(stalled_run: Recording) -> None:
    rec = stalled_run
    _need_stream(rec)
    beats = [e for e in rec.events if e.event == stream_rules().heartbeat_event]
    if not beats and not rec.comments:
        precondition_failed("SSE-HEARTBEAT", "no heartbeat arrived")
    with_id = [e.id for e in beats if e.id is not None]
    check(not with_id, "heartbeats must carry no id field", "no id", with_id, rec.response)


@pytest.mark.clause("SSE-RETRY-HINT")
def test_stream_sends_retry_hint(hello_run: RecordedRun) -> None:
    rec = hello_run.live
    _need_stream(rec)
    head = rec.head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    retry_at = head.find(b"retry:")
    first_data = head.find(b"data:")
    check(
        rec.retry is not None and retry_at != -1 and (first_data == -1 or retry_at < first_data),
        "the stream must send retry: before its first event",
        "retry: <ms> first",
        head[:120].decode("utf-8", "replace"),
        rec.response,
    )


@pytest.mark.clause("SSE-TOOL-PAIRING")
def test_tool_calls_pair_with_results(hello_run: RecordedRun) -> None:
    rec = hello_run.live
    _need_stream(rec)
    calls: dict[str, str] = {}
    results: set[str] = set()
    for event in rec.numbered():
        data = data_of(event)
        if not isinstance(data, dict):
            continue
        if event.event == "tool_call":
            call_id = str(data.get("call_id"))
            check(
                call_id not in calls,
                "a call_id must be used by one tool_call",
                "unique",
                call_id,
                rec.response,
            )
            calls[call_id] = str(data.get("tool"))
        elif event.event == "tool_result":
            call_id = str(data.get("call_id"))
            check(
                call_id in calls and call_id not in results,
                "a tool_result must follow its tool_call, once",
                "a matching earlier tool_call",
                call_id,
                rec.response,
            )
            check(
                calls[call_id] == data.get("tool"),
                "a tool_result must name its call's tool",
                calls[call_id],
                data.get("tool"),
                rec.response,
            )
            results.add(call_id)
    check(bool(calls), "hello_write must produce a tool_call", ">= 1 tool_call", 0, rec.response)
    if hello_run.status.get("status") == "completed":
        check(
            set(calls) == results,
            "every tool_call of a completed session needs its result",
            sorted(calls),
            sorted(results),
            rec.response,
        )


@pytest.mark.clause("SSE-PROGRESS-MONOTONIC")
def test_progress_never_decreases(hello_run: RecordedRun) -> None:
    rec = hello_run.live
    _need_stream(rec)
    values = [
        d.get("progress")
        for e in rec.numbered()
        if e.event == "status" and isinstance(d := data_of(e), dict)
    ]
    numbers = [v for v in values if isinstance(v, int)]
    check(
        all(a <= b for a, b in itertools.pairwise(numbers)),
        "progress must never decrease",
        "non-decreasing",
        numbers,
        rec.response,
    )

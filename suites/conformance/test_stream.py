"""Stream clauses (STREAM_RULES.md), judged on recorded reads of real sessions. The checks
that apply to the WebSocket too live in :mod:`suites.conformance._checks`."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from contract import status_for, stream_rules
from suites.checks.expect import expect_error_body, expect_status
from suites.checks.verdict import check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, record
from suites.conformance import _checks
from suites.conformance._checks import SSE
from suites.plugin.fixtures import BURST, SessionFactory
from suites.plugin.recorded_runs import RecordedRun

EVENT_STREAM = stream_rules().media_type
_need_stream = SSE.need_stream
_ids = SSE.ids
_finished = SSE.finished


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
    for rec in (hello_run.live, failed_run.live):
        _checks.event_types(SSE, rec)


@pytest.mark.clause("SSE-EVENT-SCHEMA")
def test_event_data_fits_its_schema(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    for rec in (hello_run.live, failed_run.live):
        _checks.event_data(SSE, rec)


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
        _checks.ids_increase(SSE, rec)


@pytest.mark.clause("SSE-FIRST-EVENT")
def test_first_event_is_status(hello_run: RecordedRun) -> None:
    _checks.first_event(SSE, hello_run.live)


@pytest.mark.clause("SSE-ONE-TERMINAL")
def test_exactly_one_terminal_event_last(hello_run: RecordedRun, failed_run: RecordedRun) -> None:
    for rec in (hello_run.replay, failed_run.replay):
        _checks.one_terminal(SSE, rec)


@pytest.mark.clause("SSE-CLOSE-AFTER-TERMINAL")
def test_stream_closes_after_terminal(hello_run: RecordedRun) -> None:
    _checks.closes_after_terminal(SSE, hello_run.live)


@pytest.mark.clause("SSE-REPLAY")
def test_late_subscriber_gets_full_history(hello_run: RecordedRun) -> None:
    _checks.replay(SSE, hello_run.live, hello_run.replay)


@pytest.mark.clause("SSE-FANOUT")
def test_concurrent_subscribers_get_the_same_sequence(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    session_id = sessions.start(BURST)
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
    def read(session_id: str, after: int | None = None, **options: Any) -> Recording:
        return record(sidecar, session_id, after, max_silence=max_silence, **options)

    _checks.resume(SSE, read, sessions.start(BURST))


@pytest.mark.clause("SSE-RESUME-AFTER-TERMINAL")
def test_resume_after_terminal_answers_204(
    sidecar: SidecarClient, retained_run: RecordedRun
) -> None:
    _need_stream(retained_run.replay)
    ids = _ids(retained_run.replay)
    _finished(retained_run.replay)
    with sidecar.open_stream(retained_run.session_id, ids[-1], read_timeout=5) as stream:
        expect_status(
            stream.response,
            "streamSession",
            "nothing_after",
            "Last-Event-ID = the terminal id must answer 204",
        )


@pytest.mark.clause("SSE-RESUME-MALFORMED")
def test_malformed_last_event_id_answers_400(
    sidecar: SidecarClient, retained_run: RecordedRun
) -> None:
    for bad in ("abc", "-1", "1.5", "9" * 40):
        with sidecar.open_stream(retained_run.session_id, bad, read_timeout=5) as stream:
            response = stream.response
            response.read()
            expect_status(
                response, "streamSession", "invalid", f"Last-Event-ID {bad!r} must answer 400"
            )


@pytest.mark.clause("SSE-RESUME-AHEAD")
def test_last_event_id_ahead_answers_400(sidecar: SidecarClient, retained_run: RecordedRun) -> None:
    ids = _ids(retained_run.replay)
    ahead = (ids[-1] if ids else 0) + 1000
    with sidecar.open_stream(retained_run.session_id, ahead, read_timeout=5) as stream:
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
    _checks.heartbeats(SSE, stalled_run, max_silence)


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
    _checks.tool_pairing(SSE, hello_run.live, hello_run.status.get("status") == "completed")


@pytest.mark.clause("SSE-PROGRESS-MONOTONIC")
def test_progress_never_decreases(hello_run: RecordedRun) -> None:
    _checks.progress_monotonic(SSE, hello_run.live)

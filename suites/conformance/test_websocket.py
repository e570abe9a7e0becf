"""WebSocket clauses (STREAM_RULES.md#websocket): the same event log over
``GET /sessions/{id}/ws``. The checks shared with SSE come from
:mod:`suites.conformance._checks`; what only a WebSocket has (upgrade, frames, close
codes, the resume message) is judged here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from contract import event_fields, operation, status_for, stream_rules, validate_ws_frame
from suites.checks.expect import expect_error_body, expect_status
from suites.checks.verdict import ClauseViolation, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording
from suites.clientkit.ws import record_ws
from suites.conformance import _checks
from suites.conformance._checks import SSE, WEBSOCKET
from suites.plugin.fixtures import BURST, QUICK, SessionFactory
from suites.plugin.recorded_runs import WebSocketRun

OPERATION = WEBSOCKET.operation_id


def _reader(sidecar: SidecarClient, max_silence: float) -> _checks.Reader:
    def read(session_id: str, after: Any = None, **options: Any) -> Recording:
        return record_ws(sidecar, session_id, after, max_silence=max_silence, **options)

    return read


@pytest.mark.clause("WS-UPGRADE")
def test_websocket_upgrades(
    sidecar: SidecarClient, sessions: SessionFactory, ws_run: WebSocketRun
) -> None:
    rec = ws_run.live
    expected = status_for(OPERATION, "upgraded")
    check(
        rec.status_code == expected,
        "a WebSocket handshake on an existing session must be upgraded",
        f"HTTP {expected}",
        f"HTTP {rec.status_code}: {rec.body[:200]!r}",
        rec.response,
    )
    # a session of its own: ws_run's may have been evicted from retention since
    path = operation(OPERATION).url_path(session_id=sessions.start(QUICK))
    plain = sidecar.http.get(path)
    expect_status(plain, OPERATION, "upgrade_required", "a GET without a handshake must answer 426")
    expect_error_body(plain, "the 426 must be the JSON error body")


@pytest.mark.clause("WS-UNKNOWN-SESSION-404")
def test_websocket_of_unknown_session_answers_404(
    sidecar: SidecarClient, max_silence: float
) -> None:
    rec = record_ws(sidecar, str(uuid.uuid4()), max_silence=max_silence)
    expected = status_for(OPERATION, "not_found")
    check(
        rec.status_code == expected,
        "a handshake for an unknown session must answer 404 before any upgrade",
        f"HTTP {expected}",
        f"HTTP {rec.status_code} ({len(rec.frames)} frames, close code {rec.close_code})",
        rec.response,
    )
    expect_error_body(rec.response, "the 404 must be the JSON error body")


@pytest.mark.clause("WS-FRAME-SCHEMA")
def test_every_frame_fits_the_frame_schema(ws_run: WebSocketRun, stalled_ws_run: Recording) -> None:
    for rec in (ws_run.live, stalled_ws_run):
        WEBSOCKET.need_stream(rec)
        check(bool(rec.frames), "the WebSocket must carry frames", ">= 1 frame", 0, rec.response)
        for frame in rec.frames:
            problems = validate_ws_frame(frame)
            check(
                not problems,
                "every frame must be a JSON event valid against WebSocketFrame and its event",
                "valid frames",
                f"{str(frame)[:200]} -> {'; '.join(map(str, problems[:3]))}",
                rec.response,
            )


@pytest.mark.clause("WS-IDS-INCREASE")
def test_frame_ids_strictly_increase(ws_run: WebSocketRun) -> None:
    _checks.ids_increase(WEBSOCKET, ws_run.live)


@pytest.mark.clause("WS-ONE-TERMINAL")
def test_exactly_one_terminal_frame_last(ws_run: WebSocketRun) -> None:
    for rec in (ws_run.live, ws_run.replay):
        _checks.one_terminal(WEBSOCKET, rec)


@pytest.mark.clause("WS-CLOSE-1000")
def test_websocket_closes_1000_after_terminal(ws_run: WebSocketRun) -> None:
    rec = ws_run.live
    _checks.closes_after_terminal(WEBSOCKET, rec)
    code = stream_rules().websocket.close_after_terminal
    check(
        rec.close_code == code,
        f"the server must close with code {code} after the terminal frame",
        code,
        "no close frame" if rec.close_code is None else rec.close_code,
        rec.response,
    )


@pytest.mark.clause("WS-REPLAY")
def test_late_websocket_subscriber_gets_full_history(ws_run: WebSocketRun) -> None:
    _checks.replay(WEBSOCKET, ws_run.live, ws_run.replay)


@pytest.mark.clause("WS-RESUME")
def test_resume_after_message(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    read = _reader(sidecar, max_silence)
    session_id = sessions.start(BURST)
    ids = _checks.resume(WEBSOCKET, read, session_id)
    rules = stream_rules().websocket
    after_terminal = read(session_id, ids[-1])
    check(
        not after_terminal.frames and after_terminal.ended,
        "resume_after = the terminal id must get no frame, and the socket closes",
        "no frame, closed",
        f"{len(after_terminal.frames)} frames, {'closed' if after_terminal.ended else 'open'}",
        after_terminal.response,
    )
    for bad in (-1, "abc", {rules.resume_field: "1"}, {rules.resume_field: 1.5}, ids[-1] + 1000):
        rec = read(session_id, bad)
        check(
            not rec.frames and rec.close_code == rules.close_bad_resume,
            f"a malformed or ahead resume message must close with {rules.close_bad_resume}",
            f"no frame, close {rules.close_bad_resume}",
            f"{bad!r}: {len(rec.frames)} frames, close {rec.close_code}",
            rec.response,
        )


@pytest.mark.clause("WS-HEARTBEAT")
def test_silent_websocket_gets_heartbeat_frames(
    stalled_ws_run: Recording, max_silence: float
) -> None:
    _checks.heartbeats(WEBSOCKET, stalled_ws_run, max_silence)


def _trusted_sse(rec: Recording, completed: bool) -> None:
    """Precondition: the SSE read passes the SSE clauses its history depends on."""
    judgments: list[tuple[str, Callable[[], None]]] = [
        ("SSE-EVENT-TYPES", lambda: _checks.event_types(SSE, rec)),
        ("SSE-EVENT-SCHEMA", lambda: _checks.event_data(SSE, rec)),
        ("SSE-FIRST-EVENT", lambda: _checks.first_event(SSE, rec)),
        ("SSE-ONE-TERMINAL", lambda: _checks.one_terminal(SSE, rec)),
        ("SSE-TOOL-PAIRING", lambda: _checks.tool_pairing(SSE, rec, completed)),
        ("SSE-PROGRESS-MONOTONIC", lambda: _checks.progress_monotonic(SSE, rec)),
    ]
    SSE.need_stream(rec)
    SSE.ids(rec)
    for clause, judge in judgments:
        try:
            judge()
        except ClauseViolation as exc:
            precondition_failed(clause, exc.title)


def _comparable(rec: Recording) -> list[tuple[str | None, str, Any]]:
    """(id, type, data restricted to the fields the contract names) of the history."""
    known = stream_rules().event_types
    return [
        (
            event_id,
            kind,
            {k: v for k, v in data.items() if k in event_fields(kind)}
            if kind in known and isinstance(data, dict)
            else data,
        )
        for event_id, kind, data in rec.history()
    ]


@pytest.mark.clause("WS-SAME-EVENTS-AS-SSE")
def test_websocket_carries_the_sse_events(ws_run: WebSocketRun) -> None:
    WEBSOCKET.need_stream(ws_run.live)
    WEBSOCKET.ids(ws_run.live)
    WEBSOCKET.finished(ws_run.live)
    completed = any(e.event == "complete" for e in ws_run.sse.numbered())
    _trusted_sse(ws_run.sse, completed)
    sse, ws = _comparable(ws_run.sse), _comparable(ws_run.live)
    diff = next((i for i, (a, b) in enumerate(zip(sse, ws, strict=False)) if a != b), None)
    check(
        sse == ws,
        "the WebSocket must carry the SSE stream's events (ids, types, data)",
        f"{len(sse)} events: {sse[diff] if diff is not None else [e[:2] for e in sse]}",
        f"{len(ws)} frames: {ws[diff] if diff is not None else [e[:2] for e in ws]}",
        ws_run.live.response,
    )

"""Lifecycle clauses: cancel ends the stream, status agrees, timeouts, failures, workspace."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from contract import status_for, stream_rules
from suites.checks.expect import expect_timeout_terminal
from suites.checks.verdict import capability_absent, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, data_of
from suites.plugin.fixtures import LONG_RUNNING, SessionFactory, TimedOutRun
from suites.plugin.recorded_runs import RecordedRun

STREAMED = status_for("streamSession", "stream")


def _terminal(rec: Recording) -> tuple[str, dict[str, object]]:
    index = rec.terminal_index()
    if rec.status_code != STREAMED or index is None:
        precondition_failed("SSE-ONE-TERMINAL", "the stream ended without a terminal event")
    event = rec.events[index]
    return event.event, dict(data_of(event))


@pytest.mark.clause("CANCEL-ENDS-STREAM")
def test_cancel_ends_open_streams_with_cancelled_status(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    rules = stream_rules()
    session_id = sessions.start(LONG_RUNNING)
    with sidecar.open_stream(session_id, read_timeout=max_silence) as stream:
        if stream.response.status_code != STREAMED:
            precondition_failed("SSE-CONTENT-TYPE", f"HTTP {stream.response.status_code}")
        sidecar.read_events(stream, limit=1)
        sidecar.cancel(session_id)
        started = time.monotonic()
        try:
            sidecar.read_events(stream)
        except Exception as exc:  # read timeout: the stream did not end
            check(
                False,
                "DELETE must end every open stream",
                "the stream closes",
                f"{type(exc).__name__} after {time.monotonic() - started:.1f} s",
                stream.response,
            )
    history = [e for e in stream.events if e.event not in rules.unnumbered_events]
    last = history[-1]
    data = data_of(last) or {}
    check(
        last.event == rules.cancel_event and data.get("status") == rules.cancel_data["status"],
        "the stream must end with a status cancelled event",
        f"{rules.cancel_event} {dict(rules.cancel_data)}",
        f"{last.event} {last.data}",
        stream.response,
    )
    status = sidecar.status(session_id).json()
    check(
        status.get("status") == rules.cancel_data["status"],
        "the status endpoint must say cancelled",
        rules.cancel_data["status"],
        status.get("status"),
    )


def _consistent(sidecar: SidecarClient, run: RecordedRun) -> None:
    rules = stream_rules()
    event, data = _terminal(run.replay)
    expected = rules.session_status_after(event, data)
    status = run.status
    check(
        status.get("status") == expected,
        "the status endpoint must report the stream's terminal status",
        expected,
        status.get("status"),
        run.replay.response,
    )
    if event == "complete":
        check(
            status.get("files_modified") == data.get("files_modified"),
            "status files_modified must equal the complete event's",
            data.get("files_modified"),
            status.get("files_modified"),
            run.replay.response,
        )
    terminal_id = run.replay.events[run.replay.terminal_index() or 0].id
    numeric = terminal_id is not None and rules.id_pattern.match(terminal_id)
    if "last_event_id" in status and numeric:
        check(
            str(status["last_event_id"]) == terminal_id,
            "status last_event_id must be the terminal event's id",
            terminal_id,
            status["last_event_id"],
            run.replay.response,
        )


@pytest.mark.clause("STATUS-CONSISTENT")
def test_status_agrees_with_the_stream(
    sidecar: SidecarClient,
    hello_run: RecordedRun,
    failed_run: RecordedRun,
    sessions: SessionFactory,
) -> None:
    _consistent(sidecar, hello_run)
    _consistent(sidecar, failed_run)
    running = sessions.start(LONG_RUNNING)
    body = sidecar.status(running).json()
    check(
        body.get("status") in ("pending", "running"),
        "a session without terminal event must report a non-terminal status",
        "pending|running",
        body.get("status"),
    )


@pytest.mark.clause("SESSION-TIMEOUT")
def test_session_timeout_ends_with_timeout_error(
    timeout_run: Callable[[], TimedOutRun] | None,
) -> None:
    if timeout_run is None:
        capability_absent("the target's SESSION_TIMEOUT was not declared", flag="--session-timeout")
    rules = stream_rules()
    run = timeout_run()
    check(
        run.status.get("status") == rules.fatal_status,
        "a session past SESSION_TIMEOUT must fail",
        f"status {rules.fatal_status} within {run.window:.0f} s",
        run.status.get("status"),
    )
    rec = run.recording
    assert rec is not None  # it failed: read back
    if rec.status_code != STREAMED:
        precondition_failed("SSE-CONTENT-TYPE", f"HTTP {rec.status_code}")
    index = rec.terminal_index()
    if index is None:
        precondition_failed("SSE-ONE-TERMINAL", "the failed session's history has no terminal")
    expect_timeout_terminal(rec.events[index], "the terminal event must say timeout", rec.response)

"""Retention (STREAM_RULES.md#retention): a finished session stays readable for
SESSION_RETENTION seconds, then every route naming it answers the expired outcome (404)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from contract import retention_rules, soak_rules, status_for, stream_rules
from suites.checks.expect import body_text, expect_error_body
from suites.checks.verdict import capability_absent, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import record
from suites.plugin.churn import Churn
from suites.plugin.fixtures import SessionFactory
from suites.plugin.target import TargetOptions

SCENARIO = "quick"
MAX_TESTED_CAP = soak_rules().churn_warmup_max_sessions
"""Larger caps are not filled (declare a smaller MAX_RETAINED_SESSIONS on a test instance);
the same bound as the churn soak's warm-up."""
CAP_CONCURRENCY = 4
MAX_TESTED_RETENTION = 60.0
"""Longer retentions are not waited for (declare a shorter one on a test instance)."""
READ_AT = 0.7
"""RETENTION-READABLE reads the session at this fraction of its retention."""
ENDED = stream_rules().ended_statuses
FOUND = status_for("getSessionStatus", "status")
STREAMED = status_for("streamSession", "stream")


@dataclass(frozen=True)
class Finished:
    """A session that finished, when this side first saw it finished, and its history."""

    session_id: str
    seen_at: float
    events: int
    retention: float


@pytest.fixture(scope="module")
def finished(
    target: TargetOptions, sidecar: SidecarClient, model_endpoint: str, api_key: str
) -> Finished:
    retention = target.session_retention
    if retention is None:
        capability_absent(
            "the target's SESSION_RETENTION was not declared", flag="--session-retention"
        )
    if retention > MAX_TESTED_RETENTION:
        capability_absent(
            f"SESSION_RETENTION {retention:g} s is too long to wait for (at most "
            f"{MAX_TESTED_RETENTION:g} s): verify a test instance with a shorter one",
            flag="--session-retention",
        )
    sessions = SessionFactory(sidecar, model_endpoint, api_key)
    session_id = sessions.start(SCENARIO)
    status = sidecar.wait_for_status(session_id, ENDED, 30.0)
    seen_at = time.monotonic()
    if status.get("status") not in ENDED:
        precondition_failed("STATUS-CONSISTENT", f"the {SCENARIO} session did not finish: {status}")
    events = status.get("last_event_id")
    return Finished(session_id, seen_at, int(events) if isinstance(events, int) else 0, retention)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.mark.clause("RETENTION-READABLE")
def test_a_finished_session_is_readable_within_its_retention(
    sidecar: SidecarClient, finished: Finished, max_silence: float
) -> None:
    _sleep_until(finished.seen_at + READ_AT * finished.retention)
    status = sidecar.status(finished.session_id)
    check(
        status.status_code == FOUND and status.json().get("status") in ENDED,
        f"a session finished {READ_AT * finished.retention:.1f} s ago (SESSION_RETENTION "
        f"{finished.retention:g} s) must still answer its terminal status",
        f"HTTP {FOUND} with a terminal status",
        f"HTTP {status.status_code}: {body_text(status)}",
        status,
    )
    rec = record(sidecar, finished.session_id, max_silence=max_silence)
    check(
        rec.status_code == STREAMED and rec.terminal_index() is not None,
        "a retained finished session must replay its whole history",
        f"HTTP {STREAMED} with {finished.events} events up to the terminal event",
        f"HTTP {rec.status_code}, {len(rec.events)} events",
        rec.response,
    )


@pytest.mark.clause("RETENTION-EXPIRES")
def test_past_retention_every_route_answers_the_expired_outcome(
    sidecar: SidecarClient, finished: Finished
) -> None:
    rules = retention_rules()
    _sleep_until(finished.seen_at + rules.gone_by(finished.retention))
    late = f"{rules.gone_by(finished.retention):g} s after the session finished"
    path = {"session_id": finished.session_id}
    for operation_id in ("getSessionStatus", "streamSession", "cancelSession"):
        response = sidecar.call(operation_id, path=path)
        expected = rules.expired_status(operation_id)
        check(
            response.status_code == expected,
            f"{operation_id} of a session past retention ({late}) must answer "
            f"{rules.expired_outcome}",
            f"HTTP {expected}",
            f"HTTP {response.status_code}: {body_text(response)}",
            response,
        )
        expect_error_body(response, f"{operation_id} past retention answers the error body")


@pytest.mark.clause("RETENTION-CAP")
def test_beyond_the_cap_the_oldest_finished_session_is_gone(
    sidecar: SidecarClient, target: TargetOptions, model_endpoint: str, api_key: str
) -> None:
    cap = target.max_retained_sessions
    if cap is None:
        capability_absent(
            "the target's MAX_RETAINED_SESSIONS was not declared", flag="--max-retained-sessions"
        )
    if cap > MAX_TESTED_CAP:
        capability_absent(
            f"MAX_RETAINED_SESSIONS {cap} is too many to fill (at most {MAX_TESTED_CAP}): "
            "verify a test instance with a smaller one",
            flag="--max-retained-sessions",
        )
    churn = Churn(
        sidecar, SessionFactory(sidecar, model_endpoint, api_key), target, CAP_CONCURRENCY, SCENARIO
    )
    oldest = churn.one()
    churn.run(count=cap)
    time.sleep(retention_rules().sweep_tolerance_seconds)
    expected = retention_rules().expired_status("getSessionStatus")
    gone = sidecar.status(oldest)
    check(
        gone.status_code == expected,
        f"after {cap} newer sessions finished (MAX_RETAINED_SESSIONS {cap}), the oldest "
        f"finished session must answer {retention_rules().expired_outcome}",
        f"HTTP {expected}",
        f"HTTP {gone.status_code}: {body_text(gone)}",
        gone,
    )
    expect_error_body(gone, "a session beyond the cap answers the error body")
    newest = sidecar.status(str(churn.last))
    check(
        newest.status_code == FOUND,
        "the most recently finished session must still be retained",
        f"HTTP {FOUND}",
        f"HTTP {newest.status_code}: {body_text(newest)}",
        newest,
    )

"""Retention (STREAM_RULES.md#retention): a finished session stays readable for
SESSION_RETENTION seconds, then every route naming it answers the expired outcome (404)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from contract import retention_rules, soak_rules, status_for
from suites.checks.expect import body_text, expect_error_body
from suites.checks.verdict import capability_absent, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.plugin.churn import Churn
from suites.plugin.fixtures import SessionFactory
from suites.plugin.outcomes import NOTE
from suites.plugin.retention_watch import ENDED, FOUND, SCENARIO, RetentionWatch
from suites.plugin.target import TargetOptions

MAX_TESTED_CAP = soak_rules().churn_warmup_max_sessions
"""Larger caps are not filled (declare a smaller MAX_RETAINED_SESSIONS on a test instance);
the same bound as the churn soak's warm-up."""
CAP_CONCURRENCY = 4
STREAMED = status_for("streamSession", "stream")


def _judged(watch: RetentionWatch) -> RetentionWatch:
    """The watch to judge, once it has read the session at READ_AT of its retention: the
    head start's, or (when that one found its session gone, possibly evicted by other
    suites' sessions) a new one watched while nothing else runs."""
    if watch.absent is not None:
        capability_absent(watch.absent, flag="--session-retention")
    if watch.unfinished is not None:
        precondition_failed("STATUS-CONSISTENT", watch.unfinished)
    watch.wait_read()
    if watch.maybe_evicted:
        watch.fallback = watch.fallback or watch.again()
        return _judged(watch.fallback)  # watched alone: it never falls back again
    return watch


@pytest.mark.clause("RETENTION-READABLE")
def test_a_finished_session_is_readable_within_its_retention(
    retention_watch: RetentionWatch, record_property: Callable[[str, object], None]
) -> None:
    watch = _judged(retention_watch)
    if retention_watch.fallback is not None:
        record_property(
            NOTE,
            "the session watched from the start of the run was gone at "
            f"{retention_watch.read_at:.1f} s (other suites finished sessions meanwhile, "
            "beyond MAX_RETAINED_SESSIONS?); judged a session watched alone",
        )
    status, rec = watch.status, watch.replay
    if status is None or rec is None:
        raise RuntimeError("the retention watch read nothing")
    check(
        status.status_code == FOUND and status.json().get("status") in ENDED,
        f"a session finished {watch.read_at:.1f} s ago (SESSION_RETENTION "
        f"{watch.retention:g} s) must still answer its terminal status",
        f"HTTP {FOUND} with a terminal status",
        f"HTTP {status.status_code}: {body_text(status)}",
        status,
    )
    check(
        rec.status_code == STREAMED and rec.terminal_index() is not None,
        "a retained finished session must replay its whole history",
        f"HTTP {STREAMED} with {watch.events} events up to the terminal event",
        f"HTTP {rec.status_code}, {len(rec.events)} events",
        rec.response,
    )


@pytest.mark.clause("RETENTION-EXPIRES")
def test_past_retention_every_route_answers_the_expired_outcome(
    retention_watch: RetentionWatch,
) -> None:
    watch = _judged(retention_watch)
    watch.wait_gone()
    rules = retention_rules()
    late = f"{rules.gone_by(watch.retention):g} s after the session finished"
    for operation_id, response in watch.expired.items():
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


@pytest.mark.clause("RETENTION-WORKSPACE")
def test_past_retention_the_workspace_directory_is_gone(
    retention_watch: RetentionWatch, target: TargetOptions
) -> None:
    if target.workspace is None:
        capability_absent("the suite cannot read the target's WORKSPACE_DIR", flag="--workspace")
    watch = _judged(retention_watch)
    watch.wait_gone()
    expired = watch.expired.get("getSessionStatus")
    status = retention_rules().expired_status("getSessionStatus")
    if expired is None or expired.status_code != status:
        precondition_failed("RETENTION-EXPIRES", "the session was still there past retention")
    path = target.workspace / watch.session_id
    deadline = time.monotonic() + retention_rules().sweep_tolerance_seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    check(
        not path.exists(),
        "a session past retention must take its workspace directory along (disk must not "
        "grow with every finished session)",
        f"no {path}",
        f"{path} still holds {sorted(p.name for p in path.iterdir())[:10]}"
        if path.is_dir()
        else f"{path} exists",
    )


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
    expected = retention_rules().expired_status("getSessionStatus")
    deadline = time.monotonic() + retention_rules().sweep_tolerance_seconds
    while (gone := sidecar.status(oldest)).status_code != expected and time.monotonic() < deadline:
        time.sleep(0.1)  # gone within the sweep tolerance
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

"""REST clauses: error bodies, routes, request ids, create, status and cancel."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contract import operation, status_for
from suites.checks.expect import (
    error_details,
    expect_error_body,
    expect_schema,
    expect_status,
)
from suites.checks.negative import invalid_variants
from suites.checks.verdict import check, precondition_failed, violation
from suites.clientkit.client import SidecarClient, session_body
from suites.clientkit.rawhttp import post_oversized
from suites.plugin.fixtures import HELLO_WRITE, LONG_RUNNING, SessionFactory
from suites.plugin.recorded_runs import RecordedRun
from suites.plugin.target import TargetOptions

OVERSIZED_BYTES = 16 * 1024 * 1024 + 1
PROBE_LIMIT = 64


def _unknown_id() -> str:
    return str(uuid.uuid4())


@pytest.mark.clause("REST-ERROR-BODY")
def test_error_responses_carry_the_json_error_body(
    sidecar: SidecarClient, sessions: SessionFactory, retained_run: RecordedRun
) -> None:
    duplicate_id = retained_run.session_id
    answers = [
        sidecar.status(_unknown_id()),
        sidecar.cancel(_unknown_id()),
        sidecar.call("createSession", json={"prompt": ""}),
        sidecar.http.post(
            operation("createSession").path,
            content=b"{oops",
            headers={"Content-Type": "application/json"},
        ),
        sidecar.create_session(duplicate_id, "again", sessions.config(HELLO_WRITE)),
        sidecar.cancel(retained_run.session_id),
    ]
    errors = [a for a in answers if a.status_code >= 400]
    check(
        bool(errors),
        "the suite's bad requests must be refused",
        "4xx answers",
        [a.status_code for a in answers],
    )
    for answer in errors:
        expect_error_body(answer, f"HTTP {answer.status_code} must carry the JSON error body")


@pytest.mark.clause("REST-UNKNOWN-ROUTE")
def test_unknown_route_answers_404_json(sidecar: SidecarClient) -> None:
    response = sidecar.http.get("/no-such-route-in-the-contract")
    check(
        response.status_code == 404,
        "an unknown path must answer 404",
        "HTTP 404",
        f"HTTP {response.status_code}",
        response,
    )
    expect_error_body(response, "the 404 must carry the JSON error body")


@pytest.mark.clause("REST-METHOD-NOT-ALLOWED")
def test_wrong_method_answers_405_json(sidecar: SidecarClient) -> None:
    response = sidecar.http.put(operation("createSession").path, json={})
    check(
        response.status_code == 405,
        "PUT /sessions must answer 405",
        "HTTP 405",
        f"HTTP {response.status_code}",
        response,
    )
    expect_error_body(response, "the 405 must carry the JSON error body")


@pytest.mark.clause("REST-REQUEST-ID")
def test_request_id_is_echoed(sidecar: SidecarClient) -> None:
    request_id = f"verify-{uuid.uuid4().hex}"
    response = sidecar.http.get(operation("getLiveness").path, headers={"X-Request-ID": request_id})
    check(
        response.headers.get("X-Request-ID") == request_id,
        "X-Request-ID must be echoed",
        request_id,
        response.headers.get("X-Request-ID"),
        response,
    )
    minted = sidecar.liveness().headers.get("X-Request-ID")
    check(
        bool(minted),
        "a response must carry an X-Request-ID when none was sent",
        "a fresh X-Request-ID",
        minted,
    )


@pytest.mark.clause("CREATE-201")
def test_valid_create_answers_201(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = _unknown_id()
    sessions.started.append(session_id)
    response = sidecar.create_session(session_id, "Say hello.", sessions.config(HELLO_WRITE))
    expect_status(response, "createSession", "created")
    body = expect_schema(response, "SessionCreated", "the 201 body must be SessionCreated")
    check(
        body["session_id"] == session_id,
        "the 201 must name the session sent",
        session_id,
        body["session_id"],
        response,
    )


@pytest.mark.clause("CREATE-LOCATION")
def test_created_carries_location(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = _unknown_id()
    sessions.started.append(session_id)
    response = sidecar.create_session(session_id, "Say hello.", sessions.config(HELLO_WRITE))
    location = response.headers.get("Location")
    check(
        bool(location),
        "201 must carry a Location header",
        "Location: .../status",
        dict(response.headers),
        response,
    )
    followed = sidecar.http.get(str(location))
    check(
        followed.status_code == status_for("getSessionStatus", "status"),
        "Location must name the session's status URL",
        "HTTP 200 from GET Location",
        f"HTTP {followed.status_code} from GET {location}",
        followed,
    )


def _valid_full_body(sessions: SessionFactory) -> dict[str, Any]:
    config = sessions.config(HELLO_WRITE, model_version="v1", system_prompt="Be brief.")
    return session_body(_unknown_id(), "Say hello.", config, system_prompt="Be brief.")


@pytest.mark.clause("CREATE-INVALID-400")
def test_invalid_bodies_answer_400_naming_the_field(
    sidecar: SidecarClient, sessions: SessionFactory
) -> None:
    for variant in invalid_variants("CreateSessionRequest", _valid_full_body(sessions)):
        response = sidecar.call("createSession", json=variant.body)
        if response.is_success:
            sessions.started.append(str(variant.body.get("session_id")))
        expect_status(
            response, "createSession", "invalid", f"a body breaking {variant.label} must answer 400"
        )
        details = error_details(response)
        if details is None:
            continue  # not an error object: REST-ERROR-BODY reports it
        field = str(details.get("field", ""))
        check(
            field.startswith(variant.field),
            f"the 400 for {variant.label} must name the field",
            f"details.field = {variant.field}",
            f"details = {details}",
            response,
        )


@pytest.mark.clause("CREATE-BAD-JSON-400")
def test_malformed_json_answers_400(sidecar: SidecarClient) -> None:
    path = operation("createSession").path
    for payload in (b"{not json", b"[1, 2, 3]", b'"a string"', b""):
        response = sidecar.http.post(
            path, content=payload, headers={"Content-Type": "application/json"}
        )
        expect_status(response, "createSession", "invalid", f"body {payload!r} must answer 400")


@pytest.mark.clause("CREATE-MEDIA-TYPE-415")
def test_non_json_content_type_answers_415(
    sidecar: SidecarClient, sessions: SessionFactory
) -> None:
    import json

    body = json.dumps(_valid_full_body(sessions))
    response = sidecar.http.post(
        operation("createSession").path, content=body, headers={"Content-Type": "text/plain"}
    )
    if response.is_success:
        sessions.started.append(json.loads(body)["session_id"])
    expect_status(response, "createSession", "unsupported_media_type")


@pytest.mark.clause("CREATE-TOO-LARGE-413")
def test_oversized_body_answers_413(target: TargetOptions) -> None:
    headers = {"Authorization": f"Bearer {target.secret}"} if target.secret else {}
    answer = post_oversized(target.url, operation("createSession").path, OVERSIZED_BYTES, headers)
    expected = status_for("createSession", "too_large")
    if answer.status != expected:
        violation(
            "a 16 MiB body must answer 413",
            f"HTTP {expected}",
            f"HTTP {answer.status}" if answer.status else answer.error,
        )


@pytest.mark.clause("CREATE-DUPLICATE-409")
def test_duplicate_id_answers_409(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = sessions.start(HELLO_WRITE)
    before = sidecar.status(session_id)
    again = sidecar.create_session(session_id, "Another prompt.", sessions.config(LONG_RUNNING))
    expect_status(again, "createSession", "duplicate")
    after = sidecar.status(session_id)
    check(
        after.status_code == before.status_code == 200,
        "the duplicate must leave the session untouched",
        "the session still exists",
        f"status {before.status_code} then {after.status_code}",
        after,
    )


@pytest.mark.clause("CREATE-LIMIT-503")
def test_session_limit_answers_503_with_retry_after(
    sidecar: SidecarClient, sessions: SessionFactory, target: TargetOptions
) -> None:
    bound = (target.max_sessions + 1) if target.max_sessions else PROBE_LIMIT
    refused = None
    running: list[str] = []
    for _ in range(bound):
        session_id = _unknown_id()
        response = sidecar.create_session(session_id, "Run slowly.", sessions.config(LONG_RUNNING))
        if response.is_success:
            sessions.started.append(session_id)
            running.append(session_id)
            continue
        refused = response
        break
    if refused is None:
        violation(
            "sessions beyond the limit must be refused",
            f"503 within {bound} concurrent sessions",
            f"{len(running)} sessions accepted",
        )
    expect_status(refused, "createSession", "limit_reached")
    retry_after = refused.headers.get("Retry-After", "")
    check(
        retry_after.isdigit(),
        "503 must carry Retry-After in whole seconds",
        "Retry-After: <seconds>",
        retry_after or "(missing)",
        refused,
    )
    if not running:
        return
    sidecar.cancel(running[0])  # a finished session frees its slot
    freed = _unknown_id()
    response = sidecar.create_session(freed, "Run slowly.", sessions.config(LONG_RUNNING))
    sessions.started.append(freed)
    check(
        response.is_success,
        "a cancelled session must free its slot",
        "2xx",
        f"HTTP {response.status_code}",
        response,
    )


@pytest.mark.clause("STATUS-200")
def test_status_of_a_session(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = sessions.start(HELLO_WRITE)
    response = sidecar.status(session_id)
    expect_status(response, "getSessionStatus", "status")
    body = expect_schema(response, "SessionStatus", "the status body must be SessionStatus")
    check(
        body["session_id"] == session_id,
        "the status must name its session",
        session_id,
        body["session_id"],
        response,
    )


@pytest.mark.clause("STATUS-UNKNOWN-404")
def test_status_of_unknown_session_answers_404(sidecar: SidecarClient) -> None:
    expect_status(sidecar.status(_unknown_id()), "getSessionStatus", "not_found")


@pytest.mark.clause("SESSION-ID-MALFORMED-400")
def test_malformed_session_id_answers_400(sidecar: SidecarClient) -> None:
    for op, response in (
        ("getSessionStatus", sidecar.status("not-a-uuid")),
        ("streamSession", sidecar.http.get(operation("streamSession").url_path(session_id="x-1"))),
        ("cancelSession", sidecar.cancel("not-a-uuid")),
    ):
        expect_status(response, op, "invalid", f"{op} with a malformed id must answer 400")


@pytest.mark.clause("CANCEL-200")
def test_cancel_running_session(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = sessions.start(LONG_RUNNING)
    response = sidecar.cancel(session_id)
    expect_status(response, "cancelSession", "cancelled")
    body = expect_schema(response, "SessionCancelled", "the DELETE body must be SessionCancelled")
    check(
        body["session_id"] == session_id,
        "the DELETE body must name its session",
        session_id,
        body["session_id"],
        response,
    )


@pytest.mark.clause("CANCEL-UNKNOWN-404")
def test_cancel_unknown_session_answers_404(sidecar: SidecarClient) -> None:
    expect_status(sidecar.cancel(_unknown_id()), "cancelSession", "not_found")


@pytest.mark.clause("CANCEL-IDEMPOTENT")
def test_cancel_twice_answers_200_again(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    session_id = sessions.start(LONG_RUNNING)
    first = sidecar.cancel(session_id)
    if first.status_code != status_for("cancelSession", "cancelled"):
        precondition_failed("CANCEL-200", "the first DELETE did not cancel")
    before = sidecar.status(session_id).json().get("last_event_id")
    second = sidecar.cancel(session_id)
    expect_status(second, "cancelSession", "cancelled", "a second DELETE must answer 200 again")
    check(
        second.json().get("cancelled_at") == first.json().get("cancelled_at"),
        "a second DELETE must keep the original cancelled_at",
        first.json().get("cancelled_at"),
        second.json().get("cancelled_at"),
        second,
    )
    after = sidecar.status(session_id).json().get("last_event_id")
    check(
        before == after,
        "a second DELETE must emit no event",
        f"last_event_id {before}",
        f"last_event_id {after}",
        second,
    )


@pytest.mark.clause("CANCEL-FINISHED-409")
def test_cancel_finished_session_answers_409(
    sidecar: SidecarClient, retained_run: RecordedRun
) -> None:
    if retained_run.status.get("status") != "completed":
        precondition_failed("SSE-ONE-TERMINAL", "the hello_write session did not complete")
    response = sidecar.cancel(retained_run.session_id)
    expect_status(response, "cancelSession", "already_finished")
    details = error_details(response)
    if details is not None:
        check(
            details.get("status") == "completed",
            "the 409 must name the session's status",
            "details.status = completed",
            details,
            response,
        )


@pytest.mark.clause("METRICS-PROMETHEUS")
def test_metrics_serve_prometheus_text(sidecar: SidecarClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    response = sidecar.metrics()
    expect_status(response, "getMetrics", "metrics")
    try:
        families = list(text_string_to_metric_families(response.text))
    except ValueError as exc:
        violation("/metrics must be Prometheus text", "parseable exposition", str(exc), response)
    check(bool(families), "/metrics must expose metrics", "at least one family", "none", response)

"""REST faults: middlewares that rewrite requests or responses, and runtime wrappers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from contract import status_for, stream_rules
from fakes.faults.fault import Fault
from fakes.faults.kit import (
    DelegatingRuntime,
    answered,
    body_of,
    create_body_rewrite,
    error_body,
    json_like,
    on_requests,
    on_responses,
    route,
)
from reference_server.keys import config_key, store_key
from reference_server.middleware import add_request_id_header
from reference_server.runtime import EventSink, RunResult, Runtime, RuntimeFailure, SessionSpec


# ------------------------------------------------------------------ runtime wrappers
@dataclass
class WrappedRuntime(DelegatingRuntime):
    on_result: Callable[[RunResult], RunResult] = lambda r: r
    on_failure: Callable[[RuntimeFailure], RunResult] | None = None

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        try:
            return self.on_result(await self.inner.run(spec, sink))
        except RuntimeFailure as failure:
            if self.on_failure is None:
                raise
            return self.on_failure(failure)


def failures_complete(inner: Runtime) -> Runtime:
    return WrappedRuntime(inner, on_failure=lambda f: RunResult(f"gave up: {f.code}"))


def files_unreported(inner: Runtime) -> Runtime:
    return WrappedRuntime(inner, on_result=lambda r: replace(r, files_modified=()))


# ------------------------------------------------------------------ middlewares
def status_rewrite(op: str, outcome: str, new_status: int) -> Middleware:
    wanted = status_for(op, outcome)

    def rewrite(request: web.Request, response: web.Response) -> web.StreamResponse | None:
        if route(request) == op and response.status == wanted:
            return json_like(response, body_of(response), new_status)
        return None

    return on_responses(rewrite)


def error_text(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) in ("createSession", "getSessionStatus") and answered(
        request, response, "invalid", "not_found", "duplicate"
    ):
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return web.Response(status=response.status, text="something went wrong", headers=headers)
    return None


def unknown_route_html(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) is None and response.status == web.HTTPNotFound.status_code:
        return web.Response(
            status=response.status, text="<h1>Not Found</h1>", content_type="text/html"
        )
    return None


def method_404(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if response.status == web.HTTPMethodNotAllowed.status_code:
        return json_like(response, body_of(response), web.HTTPNotFound.status_code)
    return None


def validation_422(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "createSession" and answered(request, response, "invalid"):
        body = body_of(response)
        if "violations" in body.get("details", {}):
            return json_like(response, body, 422)
    return None


def bad_json_500(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "createSession" and answered(request, response, "invalid"):
        body = body_of(response)
        if "violations" not in body.get("details", {}):
            return json_like(response, body, 500)
    return None


def no_location(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    response.headers.pop("Location", None)
    return None


def duplicate_created(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "createSession" and answered(request, response, "duplicate"):
        body = {
            "session_id": body_of(response)["details"]["session_id"],
            "status": "running",
            "created_at": body_of(response)["timestamp"],
        }
        return json_like(response, body, status_for("createSession", "created"))
    return None


def progress_text(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getSessionStatus" and answered(request, response, "status"):
        body = body_of(response)
        return json_like(response, {**body, "progress": str(body["progress"])})
    return None


def session_id_renamed(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getSessionStatus" and answered(request, response, "status"):
        body = body_of(response)
        return json_like(response, {"id": body.pop("session_id"), **body})
    return None


def completed_says_running(
    request: web.Request, response: web.Response
) -> web.StreamResponse | None:
    if route(request) == "getSessionStatus" and answered(request, response, "status"):
        body = body_of(response)
        if body["status"] == "completed":
            return json_like(response, {**body, "status": "running"})
    return None


def api_key_in_status(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getSessionStatus" and answered(request, response, "status"):
        body = body_of(response)
        session = request.app[store_key].get(body["session_id"])
        if session is not None:
            return json_like(response, {**body, "api_key": session.spec.model.api_key})
    return None


def metrics_json(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getMetrics" and answered(request, response, "metrics"):
        return web.json_response({"metrics": "see dashboard"})
    return None


def healthz_up(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    return web.json_response({"status": "up"}) if route(request) == "getLiveness" else None


def ready_bool(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getReadiness" and answered(request, response, "ready"):
        return web.json_response({"ready": True})
    return None


def health_gone(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getHealth":
        return web.json_response(error_body("not found"), status=web.HTTPNotFound.status_code)
    return None


def cancel_unknown_ok(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "cancelSession" and answered(request, response, "not_found"):
        return web.json_response(
            {
                "session_id": request.match_info["session_id"],
                "status": "cancelled",
                "cancelled_at": "2026-01-01T00:00:00Z",
            }
        )
    return None


def cancel_again_409() -> Middleware:
    cancelled: set[str] = set()

    def rewrite(request: web.Request, response: web.Response) -> web.StreamResponse | None:
        if route(request) != "cancelSession" or not answered(request, response, "cancelled"):
            return None
        session_id = request.match_info["session_id"]
        if session_id in cancelled:
            finished = status_for("cancelSession", "already_finished")
            return json_like(response, error_body("already cancelled"), finished)
        cancelled.add(session_id)
        return None

    return on_responses(rewrite)


def cancel_finished_ok(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "cancelSession" and answered(request, response, "already_finished"):
        return web.json_response(
            {
                "session_id": request.match_info["session_id"],
                "status": "cancelled",
                "cancelled_at": "2026-01-01T00:00:00Z",
            }
        )
    return None


def unknown_stream_empty(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "streamSession" and answered(request, response, "not_found"):
        opened = status_for("streamSession", "stream")
        return web.Response(status=opened, text="", content_type=stream_rules().media_type)
    return None


def status_unknown_410(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) == "getSessionStatus" and answered(request, response, "not_found"):
        return json_like(response, body_of(response), web.HTTPGone.status_code)
    return None


def malformed_id_404(request: web.Request, response: web.Response) -> web.StreamResponse | None:
    if route(request) in ("getSessionStatus", "cancelSession", "streamSession") and (
        answered(request, response, "invalid")
        and body_of(response).get("details", {}).get("field") == "session_id"
    ):
        return json_like(response, body_of(response), status_for("getSessionStatus", "not_found"))
    return None


def text_plain_is_json(request: web.Request) -> web.Request:
    if route(request) == "createSession" and request.content_type == "text/plain":
        return request.clone(headers={**request.headers, "Content-Type": "application/json"})
    return request


def drop_bad_last_event_id(request: web.Request) -> web.Request:
    header = stream_rules().resume_header
    value = request.headers.get(header)
    if value is not None and not value.strip().isdigit():
        return request.clone(headers={k: v for k, v in request.headers.items() if k != header})
    return request


def clamp_last_event_id(request: web.Request) -> web.Request:
    header = stream_rules().resume_header
    value = request.headers.get(header, "")
    session = request.app[store_key].get(request.match_info.get("session_id", ""))
    if value.isdigit() and len(value) <= 18 and session and int(value) > session.log.last_id:
        return request.clone(headers={**request.headers, header: str(session.log.last_id)})
    return request


def probes_need_auth(request: web.Request) -> web.Request | web.StreamResponse:
    if route(request) in ("getLiveness", "getHealth", "getReadiness") and not request.headers.get(
        "Authorization"
    ):
        return web.json_response(
            error_body("unauthorized"), status=status_for("createSession", "unauthorized")
        )
    return request


def status_open(request: web.Request) -> web.Request:
    """Lets status through without credentials (the auth middleware sees a good token)."""
    if route(request) == "getSessionStatus" and "Authorization" not in request.headers:
        secret = request.app[config_key].shared_secret or ""
        return request.clone(headers={**request.headers, "Authorization": f"Bearer {secret}"})
    return request


def no_request_id(app: web.Application) -> None:
    app.on_response_prepare.remove(add_request_id_header)


def clamp_temperature(body: dict[str, Any]) -> None:
    """Clamps model_config.temperature into the contract's range before the handler reads
    the body, so schema-violating requests are accepted."""
    config = body["model_config"]
    config["temperature"] = min(2.0, max(0.0, float(config["temperature"])))


FAULTS = [
    Fault(
        "healthz_wrong_body",
        "/healthz answers {'status': 'up'}",
        catches={"conformance": ("PROBE-LIVE",)},
        middleware=on_responses(healthz_up),
    ),
    Fault(
        "health_alias_missing",
        "/health answers 404",
        catches={"conformance": ("PROBE-HEALTH-ALIAS",)},
        middleware=on_responses(health_gone),
    ),
    Fault(
        "ready_wrong_body",
        "/ready answers {'ready': true}",
        catches={"conformance": ("PROBE-READY",)},
        middleware=on_responses(ready_bool),
    ),
    Fault(
        "probes_need_auth",
        "probes demand credentials",
        catches={"conformance": ("PROBE-NO-AUTH",)},
        middleware=on_requests(probes_need_auth),
    ),
    Fault(
        "error_body_not_json",
        "session errors are plain text",
        catches={"conformance": ("REST-ERROR-BODY",), "fuzz": ("FUZZ-CONTENT-TYPE",)},
        middleware=on_responses(error_text),
    ),
    Fault(
        "unknown_route_html",
        "unknown paths answer HTML",
        catches={"conformance": ("REST-UNKNOWN-ROUTE",)},
        middleware=on_responses(unknown_route_html),
    ),
    Fault(
        "wrong_method_404",
        "405 becomes 404",
        catches={"conformance": ("REST-METHOD-NOT-ALLOWED",)},
        middleware=on_responses(method_404),
    ),
    Fault(
        "no_request_id",
        "X-Request-ID is never sent",
        catches={"conformance": ("REST-REQUEST-ID",)},
        patch_app=no_request_id,
    ),
    Fault(
        "create_200",
        "POST /sessions answers 200 instead of 201",
        catches={
            "conformance": ("CREATE-201",),
            "fuzz": ("FUZZ-STATUS-DOCUMENTED",),
            "pact": ("PACT-HTTP",),
        },
        evidence={"PACT-HTTP": "expected 201 but was 200"},
        middleware=status_rewrite("createSession", "created", 200),
    ),
    Fault(
        "no_location",
        "201 without Location",
        catches={"conformance": ("CREATE-LOCATION",)},
        middleware=on_responses(no_location),
    ),
    Fault(
        "invalid_is_422",
        "schema violations answer 422",
        # not fuzz's FUZZ-STATUS-DOCUMENTED any more: 422 is documented for createSession
        # (unknown_ref, profile project), so a status check cannot tell it from a refused
        # base_ref there; the outcome's own status is what CREATE-INVALID-400 judges
        catches={"conformance": ("CREATE-INVALID-400",)},
        middleware=on_responses(validation_422),
    ),
    Fault(
        "bad_json_500",
        "malformed JSON answers 500",
        catches={"conformance": ("CREATE-BAD-JSON-400",), "fuzz": ("FUZZ-NO-SERVER-ERROR",)},
        middleware=on_responses(bad_json_500),
    ),
    Fault(
        "media_type_ignored",
        "text/plain bodies accepted",
        catches={"conformance": ("CREATE-MEDIA-TYPE-415",)},
        middleware=on_requests(text_plain_is_json),
    ),
    Fault(
        "no_body_limit",
        "any body size is read",
        catches={"conformance": ("CREATE-TOO-LARGE-413",)},
        config={"max_body_bytes": 64 * 1024 * 1024},
    ),
    Fault(
        "duplicate_accepted",
        "a taken id answers 201",
        catches={"conformance": ("CREATE-DUPLICATE-409",), "lifecycle_model": ("MODEL-LIFECYCLE",)},
        middleware=on_responses(duplicate_created),
    ),
    Fault(
        "limit_not_enforced",
        "MAX_CONCURRENT_SESSIONS ignored",
        catches={"conformance": ("CREATE-LIMIT-503",)},
        config={"max_concurrent_sessions": 10_000},
    ),
    Fault(
        "status_progress_text",
        "status progress is a string",
        catches={
            "conformance": ("STATUS-200",),
            "fuzz": ("FUZZ-RESPONSE-SCHEMA",),
            "pact": ("PACT-HTTP",),
        },
        evidence={"PACT-HTTP": "$.progress"},
        middleware=on_responses(progress_text),
    ),
    Fault(
        "status_session_id_renamed",
        "status bodies name the session 'id' instead of 'session_id'",
        catches={"conformance": ("STATUS-200",), "pact": ("PACT-HTTP",)},
        evidence={"PACT-HTTP": "missing the following keys: session_id"},
        middleware=on_responses(session_id_renamed),
    ),
    Fault(
        "status_unknown_410",
        "unknown session status is 410",
        catches={"conformance": ("STATUS-UNKNOWN-404",), "fuzz": ("FUZZ-STATUS-DOCUMENTED",)},
        middleware=on_responses(status_unknown_410),
    ),
    Fault(
        "malformed_id_404",
        "malformed ids answer 404",
        catches={"conformance": ("SESSION-ID-MALFORMED-400",)},
        middleware=on_responses(malformed_id_404),
    ),
    Fault(
        "status_lags",
        "completed sessions report running",
        catches={"conformance": ("STATUS-CONSISTENT",)},
        middleware=on_responses(completed_says_running),
    ),
    Fault(
        "cancel_202",
        "DELETE answers 202",
        catches={"conformance": ("CANCEL-200",)},
        middleware=status_rewrite("cancelSession", "cancelled", 202),
    ),
    Fault(
        "cancel_unknown_200",
        "DELETE of nothing answers 200",
        catches={"conformance": ("CANCEL-UNKNOWN-404",)},
        middleware=on_responses(cancel_unknown_ok),
    ),
    Fault(
        "cancel_twice_409",
        "a second DELETE answers 409",
        catches={"conformance": ("CANCEL-IDEMPOTENT",), "lifecycle_model": ("MODEL-LIFECYCLE",)},
        middleware=cancel_again_409(),
    ),
    Fault(
        "cancel_finished_200",
        "DELETE of a finished session answers 200",
        catches={"conformance": ("CANCEL-FINISHED-409",), "lifecycle_model": ("MODEL-LIFECYCLE",)},
        middleware=on_responses(cancel_finished_ok),
    ),
    Fault(
        "timeout_not_enforced",
        "SESSION_TIMEOUT ignored",
        catches={"conformance": ("SESSION-TIMEOUT",), "agent": ("AGENT-MODEL-ENDLESS",)},
        config={"session_timeout": 3600.0},
    ),
    Fault(
        "failure_completes",
        "model failures end in complete",
        catches={"agent": ("AGENT-MODEL-FAULT",)},
        runtime=failures_complete,
    ),
    Fault(
        "files_unreported",
        "files_modified always empty",
        catches={"agent": ("AGENT-TOOL-SEMANTICS",)},
        runtime=files_unreported,
    ),
    Fault(
        "api_key_echoed",
        "status echoes the api_key",
        catches={"conformance": ("SECRET-NEVER-ECHOED",)},
        middleware=on_responses(api_key_in_status),
    ),
    Fault(
        "auth_not_enforced",
        "status needs no token",
        catches={"conformance": ("AUTH-REQUIRED",)},
        middleware=on_requests(status_open),
    ),
    Fault(
        "metrics_json",
        "/metrics answers JSON",
        catches={"conformance": ("METRICS-PROMETHEUS",), "fuzz": ("FUZZ-CONTENT-TYPE",)},
        middleware=on_responses(metrics_json),
    ),
    Fault(
        "malformed_last_event_id_replays",
        "a malformed Last-Event-ID replays from the start",
        catches={"conformance": ("SSE-RESUME-MALFORMED",)},
        middleware=on_requests(drop_bad_last_event_id),
    ),
    Fault(
        "ahead_last_event_id_accepted",
        "a Last-Event-ID beyond the log is accepted",
        catches={"conformance": ("SSE-RESUME-AHEAD",)},
        middleware=on_requests(clamp_last_event_id),
    ),
    Fault(
        "unknown_stream_empty",
        "an unknown session streams an empty 200",
        catches={"conformance": ("SSE-UNKNOWN-SESSION-404",)},
        middleware=on_responses(unknown_stream_empty),
    ),
    Fault(
        "accepts_out_of_range_temperature",
        "temperature outside 0..2 is clamped and accepted",
        catches={"conformance": ("CREATE-INVALID-400",), "fuzz": ("FUZZ-NEGATIVE-REJECTED",)},
        middleware=create_body_rewrite(clamp_temperature),
    ),
]

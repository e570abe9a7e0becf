"""One trace from the backend to the model (profile ``operable``): a session started with a
W3C ``traceparent``/``tracestate`` makes model requests in that same trace, judged from the
fake model's audit of each request."""

from __future__ import annotations

import secrets

import pytest
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from suites.agent._fixtures import AGENT_TOOLS, AgentRun, plan, run_sessions
from suites.checks.verdict import check, violation
from suites.clientkit.client import SidecarClient

pytest_plugins = ("suites.agent._fixtures",)

BACKEND_STATE_KEY = "opencode-verify"
"""The tracestate list-member the suite sends as the backend's vendor entry."""


def _span_context(traceparent: str | None, tracestate: str | None) -> trace.SpanContext:
    """A ``traceparent`` read by OpenTelemetry's W3C propagator (invalid when malformed)."""
    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = TraceContextTextMapPropagator().extract(carrier)
    return trace.get_current_span(context).get_span_context()


@pytest.fixture(scope="session")
def traced_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> tuple[AgentRun, str, str]:
    """An ``agent_tools`` session (several model requests) created in a fresh trace of
    the suite's: the run, its traceparent and its tracestate member."""
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    member = f"{BACKEND_STATE_KEY}={secrets.token_hex(4)}"
    headers = {"traceparent": traceparent, "tracestate": member}
    session = plan(AGENT_TOOLS, model_endpoint, api_key, headers=headers)
    (run,) = run_sessions(sidecar, model_endpoint, [session], max_silence)
    return run, traceparent, member


@pytest.mark.clause("TRACE-MODEL-PARENT")
def test_model_requests_continue_the_backends_trace(traced_run: tuple[AgentRun, str, str]) -> None:
    run, traceparent, member = traced_run
    requests = run.requests()
    if not requests:
        violation(
            f"{run.label}: the fake model got no request carrying the session's prompt",
            f"requests whose first user message holds {run.marker!r}",
            "none (the prompt was not sent, or the model was not called)",
        )
    backend = _span_context(traceparent, None)
    for n, request in enumerate(requests):
        where = f"{run.label} request {n + 1} (POST /sessions sent traceparent {traceparent})"
        sent = request.value("traceparent")
        state = request.value("tracestate")
        context = _span_context(sent, state)
        check(
            context.is_valid,
            f"{where}: must carry a valid W3C traceparent",
            f"00-{backend.trace_id:032x}-<span id>-<flags>",
            sent or "no traceparent header",
        )
        check(
            context.trace_id == backend.trace_id,
            f"{where}: must be in the trace of the POST /sessions that started the session",
            f"trace-id {backend.trace_id:032x}",
            f"trace-id {context.trace_id:032x} ({sent})",
        )
        members = [m.strip() for m in str(state or "").split(",") if m.strip()]
        check(
            member in members,
            f"{where}: must carry the backend's tracestate entries on",
            f"tracestate holding {member}",
            state or "no tracestate header",
        )

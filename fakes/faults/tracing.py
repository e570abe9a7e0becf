"""Operability faults (profile ``operable``): a sidecar whose model requests leave the
backend's trace (``TRACE-MODEL-PARENT``), and one whose ``/metrics`` lacks the success-rate
families (``METRICS-OUTCOMES``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace

from contract import profile_metric_families, status_for
from fakes.faults.fault import Fault
from fakes.faults.kit import DelegatingRuntime, on_responses, route
from reference_server.runtime import EventSink, RunResult, Runtime, SessionSpec

METRICS_OK = status_for("getMetrics", "metrics")


@dataclass
class FreshTraceRuntime(DelegatingRuntime):
    """Runs each session in a trace of its own (a sidecar that starts a new root trace for
    the agent instead of continuing the request's): its model requests still carry a valid
    ``traceparent``, in the wrong trace, without the backend's ``tracestate``."""

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        fresh = trace.SpanContext(
            trace_id=int(secrets.token_hex(16), 16),
            span_id=int(secrets.token_hex(8), 16),
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        root = trace.set_span_in_context(trace.NonRecordingSpan(fresh), otel_context.Context())
        token = otel_context.attach(root)
        try:
            return await self.inner.run(spec, sink)
        finally:
            otel_context.detach(token)


def fresh_trace(inner: Runtime) -> Runtime:
    return FreshTraceRuntime(inner)


@dataclass
class OwnTraceStateRuntime(DelegatingRuntime):
    """A valid variation: the sidecar adds its own ``tracestate`` entry in front of the
    backend's (W3C Trace Context lets every participant do so)."""

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        parent = trace.get_current_span().get_span_context()
        state = parent.trace_state.add("opencode-sidecar", secrets.token_hex(4))
        context = trace.SpanContext(
            parent.trace_id, parent.span_id, parent.is_remote, parent.trace_flags, state
        )
        token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(context)))
        try:
            return await self.inner.run(spec, sink)
        finally:
            otel_context.detach(token)


def own_trace_state(inner: Runtime) -> Runtime:
    return OwnTraceStateRuntime(inner)


def drop_outcome_families(
    request: web.Request, response: web.Response
) -> web.StreamResponse | None:
    """``/metrics`` without the families of the ``operable`` profile."""
    if route(request) != "getMetrics" or response.status != METRICS_OK or response.body is None:
        return None
    names = [f.name.encode() for f in profile_metric_families("operable")]
    assert isinstance(response.body, bytes)
    kept = [line for line in response.body.split(b"\n") if not any(name in line for name in names)]
    return web.Response(body=b"\n".join(kept), headers={"Content-Type": response.content_type})


FAULTS = [
    Fault(
        "trace_not_continued",
        "each session's model requests start a new trace instead of the POST /sessions's",
        catches={"agent": ("TRACE-MODEL-PARENT",)},
        evidence={"TRACE-MODEL-PARENT": "must be in the trace of the POST /sessions"},
        runtime=fresh_trace,
    ),
    Fault(
        "tracestate_own_entry",
        "adds its own tracestate entry in front of the backend's (valid)",
        catches={"agent": ()},
        runtime=own_trace_state,
    ),
    Fault(
        "metrics_no_outcomes",
        "/metrics lacks the session, model call and tool call outcome families",
        catches={"security": ("METRICS-OUTCOMES",)},
        middleware=on_responses(drop_outcome_families),
    ),
]

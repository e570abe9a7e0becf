"""Tracing: W3C trace context in, one span per request, session run, model call and tool call.

The code of the server only uses the OpenTelemetry API (``trace.get_tracer``): without a
provider the API's no-op tracer still carries an incoming ``traceparent`` on to the model
requests (same trace id). Which provider and exporter exist is decided once, at the
composition root, by :func:`install_tracing` from the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ``OTEL_BSP_*``... read by the SDK).

Model requests are traced by OpenTelemetry's aiohttp client trace config (it injects
``traceparent``/``tracestate``), each under a ``model call`` span of ours that carries the
session and the outcome. Requests are traced by :func:`request_middleware`, written here:
``opentelemetry-instrumentation-aiohttp-server``'s middleware only works after its
instrumentor has patched ``aiohttp.web.Application`` process-wide (its excluded-URL and
metric globals are set there), which does not fit apps built by ``create_app`` beside
each other in one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import TraceConfig, web
from aiohttp.typedefs import Handler
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from reference_server.runtime import ModelConfig

TRACER_NAME = "reference_server"
SERVICE_NAME = "opencode-sidecar"
"""``service.name`` unless ``OTEL_SERVICE_NAME`` (or ``OTEL_RESOURCE_ATTRIBUTES``) names one."""

# Span names and attribute keys (one place; the OTLP test reads them from here).
REQUEST_SPAN_KIND = trace.SpanKind.SERVER
SESSION_SPAN = "session run"
MODEL_SPAN = "model call"
TOOL_SPAN = "tool call"
SESSION_ID = "opencode.session.id"
OUTCOME = "opencode.outcome"
"""A session's terminal status; a model call's ``ok`` or failure code; a tool's ``ok``/``error``."""
TOOL_NAME = "opencode.tool.name"
PROVIDER = "gen_ai.system"
MODEL = "gen_ai.request.model"

OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracer() -> trace.Tracer:
    """The server's tracer (follows the provider :func:`install_tracing` sets)."""
    return trace.get_tracer(TRACER_NAME)


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, in the trace its ``traceparent``/``tracestate`` name (a
    new trace without one), named after the contract's operation, with the HTTP status
    and the session id of the route."""
    route = request.match_info.route
    operation = route.name or "unmatched"
    attributes: dict[str, str | int] = {
        "http.request.method": request.method,
        "url.path": request.path,
        "opencode.operation": operation,
    }
    if "session_id" in request.match_info:
        attributes[SESSION_ID] = request.match_info["session_id"]
    parent = propagate.extract(request.headers)
    with tracer().start_as_current_span(
        f"{request.method} {operation}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _answered(span, exc.status)
            raise
        _answered(span, response.status)
        return response


def _answered(span: trace.Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)


def client_trace_config() -> TraceConfig:
    """Puts the current trace context on an aiohttp client's requests (``traceparent``)."""
    return create_trace_config()


@dataclass(frozen=True)
class ModelCallSpan:
    """The span of one model request; :meth:`ended` records its outcome."""

    span: trace.Span

    def ended(self, outcome: str) -> None:
        self.span.set_attribute(OUTCOME, outcome)
        if outcome != "ok":
            self.span.set_status(trace.StatusCode.ERROR, outcome)


@contextmanager
def model_call_span(
    session_id: str, model: ModelConfig, context: otel_context.Context | None = None
) -> Iterator[ModelCallSpan]:
    """A ``model call`` span, current while the request is made (so the client's trace
    config puts it in ``traceparent``); ``context``: its parent when not the current one."""
    with tracer().start_as_current_span(
        MODEL_SPAN,
        context=context,
        attributes={SESSION_ID: session_id, PROVIDER: model.provider, MODEL: model.model},
    ) as span:
        yield ModelCallSpan(span)


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or ``None`` outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def install_tracing(env: Mapping[str, str]) -> TracerProvider:
    """The composition root's one call: an SDK provider (fresh span ids, the trace id in
    every log line), exporting over OTLP/HTTP when an OTLP endpoint variable is set."""
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME_KEY, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME_KEY: SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    if exporting(env):  # the exporter (protobuf, requests) is imported only then
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def exporting(env: Mapping[str, str]) -> bool:
    """Whether :func:`install_tracing` exports: an OTLP endpoint variable is set."""
    return any(env.get(name) for name in OTLP_ENDPOINT_VARIABLES)

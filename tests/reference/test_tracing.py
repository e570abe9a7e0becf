"""One trace from the backend to the model: the reference, run as ``serve`` with the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``, exports its spans over OTLP/HTTP to a local receiver (a
small aiohttp handler decoding ``ExportTraceServiceRequest``); the test plays the backend,
exporting its own parent span there too, and asserts the span tree of one session."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from fakes.model_server import ModelServer
from reference_server.tracing import (
    MODEL_SPAN,
    OUTCOME,
    SESSION_ID,
    SESSION_SPAN,
    TOOL_NAME,
    TOOL_SPAN,
)
from suites.clientkit.client import AsyncSidecarClient, model_config
from suites.clientkit.harness import ServerProcess, reference_argv, start_server

OTLP_TRACES_PATH = "/v1/traces"
BACKEND_SPAN = "backend: start a coding session"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, str]


class OtlpReceiver:
    """Spans posted to ``/v1/traces`` as OTLP/HTTP protobuf (gzip or not)."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []

    async def traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service,
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.kind,
                            {a.key: a.value.string_value for a in span.attributes},
                        )
                    )
        reply = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[OtlpReceiver, str]]:
    otlp = OtlpReceiver()
    app = web.Application()
    app.router.add_post(OTLP_TRACES_PATH, otlp.traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield otlp, f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


async def test_one_sessions_spans_form_one_trace_with_the_backends(
    tmp_path: Path,
    receiver: tuple[OtlpReceiver, str],
    model: ModelServer,
) -> None:
    otlp, otlp_url = receiver
    backend = TracerProvider(resource=Resource({"service.name": "backend"}))
    backend.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(f"{otlp_url}{OTLP_TRACES_PATH}"))
    )
    log_path = tmp_path / "sidecar.log"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    argv = reference_argv(tmp_path / "ws", "--runtime", "fake", log_level="info")
    with ExitStack() as stack, log_path.open("w") as log_file:
        sidecar: ServerProcess = await asyncio.to_thread(
            stack.enter_context, start_server(argv, env=env, stderr=log_file.fileno())
        )
        session_id = str(uuid.uuid4())
        async with AsyncSidecarClient(sidecar.url) as client:
            with backend.get_tracer("backend").start_as_current_span(BACKEND_SPAN) as parent:
                headers: dict[str, str] = {}
                propagate.inject(headers)
                created = await client.create_session(
                    session_id,
                    "Play hello_write.",
                    model_config("hello_write", model.url, "sk-trace-test"),
                    headers=headers,
                )
            assert created.status_code == 201, created.text
            async with client.open_stream(session_id) as stream:
                events = [e async for e in client.events(stream)]
        assert events[-1].event == "complete", events[-1]
        await asyncio.to_thread(sidecar.stop)  # SIGTERM: the provider exports what is queued
    await asyncio.to_thread(backend.force_flush)
    backend.shutdown()
    trace_id = format(parent.get_span_context().trace_id, "032x")

    for _ in range(50):  # the backend's batch may land a moment later
        if any(s.name == BACKEND_SPAN for s in otlp.spans):
            break
        await asyncio.sleep(0.1)
    spans = [s for s in otlp.spans if s.trace_id == trace_id]
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (root,) = by_name[BACKEND_SPAN]
    assert root.service == "backend"
    (request,) = by_name["POST createSession"]
    assert request.parent_id == root.span_id
    assert request.kind == trace.SpanKind.SERVER.value + 1  # OTLP's enum counts UNSPECIFIED
    assert request.service == "opencode-sidecar"
    (session,) = by_name[SESSION_SPAN]
    assert session.parent_id == request.span_id
    assert session.attributes[SESSION_ID] == session_id
    assert session.attributes[OUTCOME] == "completed"
    calls = by_name[MODEL_SPAN]
    assert len(calls) >= 2  # hello_write: the tool call's turn, then the final answer
    assert {c.parent_id for c in calls} == {session.span_id}
    assert {c.attributes[OUTCOME] for c in calls} == {"ok"}
    assert {c.attributes[SESSION_ID] for c in calls} == {session_id}
    clients = [s for s in spans if s.parent_id in {c.span_id for c in calls}]
    assert len(clients) == len(calls)  # each model request's own client span
    (tool,) = by_name[TOOL_SPAN]
    assert tool.parent_id == session.span_id
    assert (tool.attributes[TOOL_NAME], tool.attributes[OUTCOME]) == ("write", "ok")

    # the model saw the same trace, its requests parented by those client spans
    sent = [r.audit.traceparent for r in model.recorder.requests if r.audit is not None]
    assert sent and all(t is not None and t.split("-")[1] == trace_id for t in sent)
    assert {t.split("-")[2] for t in sent if t} == {c.span_id for c in clients}

    # every log line of the session's run carries the trace id (a request's own line, e.g.
    # the stream's GET, carries the trace of that request)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    run_lines = [
        line
        for line in lines
        if line.get("session_id") == session_id and line["logger"] != "reference_server.http"
    ]
    assert {"session started", "session ended"} <= {line["msg"] for line in run_lines}
    assert {line.get("trace_id") for line in run_lines} == {trace_id}, run_lines

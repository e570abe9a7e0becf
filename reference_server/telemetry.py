"""Prometheus metrics of one app (its own registry, so tests and apps never share counters).

Names, types, labels and help texts come from the contract (``x-metric-families`` of
``GET /metrics``); this module only decides when each one moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from contract import MetricFamily, metric_family

if TYPE_CHECKING:
    from reference_server.event_log import Event


SESSION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Sessions last seconds to SESSION_TIMEOUT (3600 s by default)."""
MODEL_CALL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""A model answer or a tool call: from a tenth of a second to a long streamed turn."""


def _family(key: str, kind: str) -> MetricFamily:
    family = metric_family(key)
    if family.type != kind:
        raise TypeError(f"contract: {family.name} is a {family.type}, not a {kind}")
    return family


class Telemetry:
    """Counters the server moves as sessions run and streams are served."""

    def __init__(self) -> None:
        # The *_created series only add noise to a sidecar's scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.sessions_created = self._counter("sessions_created")
        self.sessions_finished = self._counter("sessions_finished")
        self.sessions_active = self._gauge("sessions_active")
        self.streams_active = self._gauge("streams_active")
        self.events_emitted = self._counter("events_emitted")
        self.heartbeats_sent = self._counter("heartbeats_sent")
        self.runtime_errors = self._counter("runtime_errors")
        self.request_seconds = self._histogram("request_seconds")
        self.requests = self._counter("requests")
        self.session_seconds = self._histogram("session_seconds", SESSION_BUCKETS)
        self.first_event_seconds = self._histogram("first_event_seconds")
        self.model_call_seconds = self._histogram("model_call_seconds", MODEL_CALL_BUCKETS)
        self.tool_call_seconds = self._histogram("tool_call_seconds", MODEL_CALL_BUCKETS)

    def _histogram(
        self, key: str, buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS
    ) -> Histogram:
        f = _family(key, "histogram")
        return Histogram(f.name, f.help, f.labels, registry=self.registry, buckets=buckets)

    def _counter(self, key: str) -> Counter:
        f = _family(key, "counter")
        return Counter(f.name, f.help, f.labels, registry=self.registry)

    def _gauge(self, key: str) -> Gauge:
        f = _family(key, "gauge")
        return Gauge(f.name, f.help, f.labels, registry=self.registry)

    def session_started(self) -> None:
        self.sessions_created.inc()
        self.sessions_active.inc()

    def session_finished(self, status: str, seconds: float) -> None:
        self.sessions_finished.labels(status).inc()
        self.sessions_active.dec()
        self.session_seconds.labels(status).observe(seconds)

    def first_event(self, seconds: float) -> None:
        self.first_event_seconds.observe(seconds)

    def model_call(self, outcome: str, seconds: float) -> None:
        self.model_call_seconds.labels(outcome).observe(seconds)

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_call_seconds.labels(tool, outcome).observe(seconds)

    def event_emitted(self, event: Event) -> None:
        self.events_emitted.labels(event.event).inc()

    def request_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(route, method).observe(seconds)
        self.requests.labels(route, str(status)).inc()

    def runtime_error(self, code: str) -> None:
        self.runtime_errors.labels(code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

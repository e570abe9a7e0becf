"""Prometheus metrics of one app (its own registry, so tests and apps never share counters)."""

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

if TYPE_CHECKING:
    from reference_server.event_log import Event


class Telemetry:
    """Counters the server moves as sessions run and streams are served."""

    def __init__(self) -> None:
        # The *_created series only add noise to a sidecar's scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions_created = Counter(
            "opencode_sessions_created", "Sessions accepted by POST /sessions.", registry=r
        )
        self.sessions_finished = Counter(
            "opencode_sessions_finished", "Sessions that ended, by status.", ["status"], registry=r
        )
        self.sessions_active = Gauge(
            "opencode_sessions_active", "Sessions running now.", registry=r
        )
        self.streams_active = Gauge("opencode_streams_active", "SSE streams open now.", registry=r)
        self.events_emitted = Counter(
            "opencode_events_emitted", "Events appended to session logs.", ["event"], registry=r
        )
        self.heartbeats_sent = Counter(
            "opencode_heartbeats_sent", "Heartbeats written to streams.", registry=r
        )
        self.runtime_errors = Counter(
            "opencode_runtime_errors", "Sessions that failed, by code.", ["code"], registry=r
        )
        self.request_seconds = Histogram(
            "opencode_request_duration_seconds",
            "Time to answer a request (to the first byte for streams), by route.",
            ["route", "method"],
            registry=r,
        )

    def session_started(self) -> None:
        self.sessions_created.inc()
        self.sessions_active.inc()

    def session_finished(self, status: str) -> None:
        self.sessions_finished.labels(status).inc()
        self.sessions_active.dec()

    def event_emitted(self, event: Event) -> None:
        self.events_emitted.labels(event.event).inc()

    def runtime_error(self, code: str) -> None:
        self.runtime_errors.labels(code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

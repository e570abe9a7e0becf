"""Probe timing: a sampler of /healthz and /ready latencies, and timing results re-checked
once, in isolation, before they count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from contract import operation, soak_rules
from suites.clientkit.client import tls_context
from suites.clientkit.stats import percentile

PROBE_INTERVAL_MS = 20.0
"""How often the sampler means to probe: a probe slower than this stood for the probes a
client probing at this rate would have sent meanwhile (see :meth:`ProbeSampler.add`)."""


@dataclass
class ProbeSampler:
    """GET /healthz and /ready, one after the other, in a thread, until stopped."""

    url: str
    latencies_ms: list[float] = field(default_factory=list)
    """Every probe's latency, and those of the probes it stood for (:meth:`add`)."""
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProbeSampler:
        self._thread = threading.Thread(target=self._run, name="probe-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        limit = soak_rules().probe_timeout_seconds
        paths = [operation("getLiveness").path, operation("getReadiness").path]
        with httpx.Client(base_url=self.url, timeout=limit, verify=tls_context()) as http:
            while not self._stop.is_set():
                for path in paths:
                    started = time.perf_counter()
                    try:
                        response = http.get(path)
                        if response.status_code >= 500 and path == paths[0]:
                            self.failures.append(f"{path}: {response.status_code}")
                    except httpx.HTTPError as exc:
                        self.failures.append(f"{path}: {type(exc).__name__}")
                    self.add(min((time.perf_counter() - started) * 1000, limit * 1000))
                self._stop.wait(0.01)

    def add(self, elapsed_ms: float) -> None:
        """Record one probe, corrected for coordinated omission (as HdrHistogram's
        ``recordValueWithExpectedInterval``): one sequential prober sends a single probe
        into a stall of the server and a hundred between stalls, so its own figures hide a
        stall; each probe a client at :data:`PROBE_INTERVAL_MS` would have seen stalled
        counts too (a 1 s stall: 980, 960, ... 20 ms)."""
        self.sent += 1
        self.latencies_ms.append(elapsed_ms)
        missed = elapsed_ms - PROBE_INTERVAL_MS
        while missed >= PROBE_INTERVAL_MS:
            self.latencies_ms.append(missed)
            missed -= PROBE_INTERVAL_MS

    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


@dataclass(frozen=True)
class Timed:
    """One timing result and whether it is within its tolerance band."""

    ok: bool
    text: str


def timed_check(measure: Callable[[], Timed], first: Timed) -> tuple[Timed, str]:
    """A timing (or memory) result out of its band is re-measured once, in isolation, before
    it counts: (final result, note saying it was re-checked)."""
    if first.ok:
        return first, first.text
    again = measure()
    return again, f"{again.text} (re-checked once: first run {first.text})"

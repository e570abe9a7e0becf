"""Pieces of the soak suite: raw stream sockets that leave abruptly or stall, a probe
sampler, the target's active streams (from /metrics) and, with its PID, its fds and RSS."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from contract import metric_family, operation, soak_rules, status_for, stream_rules
from suites.clientkit.client import SidecarClient, tls_context
from suites.clientkit.metrics import UNREADABLE, parse_families, unlabelled
from suites.clientkit.stats import percentile

RSS_FAMILY = "process_resident_memory_bytes"
"""The standard Prometheus process collector's RSS family (optional on a target)."""
HEAD_END = b"\r\n\r\n"
PAGE = os.sysconf("SC_PAGE_SIZE")


class Leave(StrEnum):
    """How a client leaves a stream."""

    RESET = "reset"
    """SO_LINGER 0, then close: the kernel sends a TCP RST."""
    HALF_OPEN = "half_open"
    """shutdown(SHUT_WR) (FIN) and never read again; the socket stays open."""


class StreamSocket:
    """``GET /sessions/{id}/stream`` over a raw socket on the target's host."""

    def __init__(
        self, url: str, secret: str | None, session_id: str, receive_buffer: int | None = None
    ) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect, so the window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10.0)
        self.sock.connect((host, port))
        path = parts.path.rstrip("/") + operation("streamSession").url_path(session_id=session_id)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            f"Accept: {stream_rules().media_type}",
            *([f"Authorization: Bearer {secret}"] if secret else []),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read_head(self) -> int | None:
        """Read up to the end of the response head; its status (``None``: no answer)."""
        data = b""
        with contextlib.suppress(OSError):
            while HEAD_END not in data and len(data) < 65536:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        try:
            return int(data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return None

    def leave(self, how: Leave) -> None:
        with contextlib.suppress(OSError):
            if how is Leave.RESET:
                self.reset()
            else:
                self.sock.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()


def open_streams(
    url: str,
    secret: str | None,
    session_id: str,
    count: int,
    receive_buffer: int | None = None,
    read_head: bool = True,
) -> list[StreamSocket]:
    """``count`` stream sockets on one session (their heads read, so each is served)."""
    sockets = [StreamSocket(url, secret, session_id, receive_buffer) for _ in range(count)]
    if read_head:
        expected = status_for("streamSession", "stream")
        statuses = [s.read_head() for s in sockets]
        if any(status != expected for status in statuses):
            for s in sockets:
                s.reset()
            raise StreamRefusedError(f"stream heads {statuses}, expected {expected}")
    return sockets


class StreamRefusedError(RuntimeError):
    """The target did not answer a stream request with a stream."""


def has_ended(client: SidecarClient, session_id: str) -> bool:
    try:
        return client.status(session_id).json().get("status") in stream_rules().ended_statuses
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


# ------------------------------------------------------------------ what the target holds
def scrape(client: SidecarClient) -> dict[str, float]:
    """Unlabelled samples of /metrics by name ({} when it is absent or unreadable)."""
    try:
        response = client.metrics()
        if response.status_code != status_for("getMetrics", "metrics"):
            return {}
        return unlabelled(parse_families(response.text))
    except (httpx.HTTPError, *UNREADABLE):
        return {}


def active_streams(client: SidecarClient) -> float | None:
    return scrape(client).get(metric_family("streams_active").name)


def wait_for_streams(
    client: SidecarClient, at_most: float, timeout: float
) -> tuple[float | None, float]:
    """Poll the active streams gauge until it is ``<= at_most`` or ``timeout`` passes;
    (last value, seconds waited)."""
    started = time.monotonic()
    value = active_streams(client)
    while value is not None and value > at_most and time.monotonic() - started < timeout:
        time.sleep(0.05)
        value = active_streams(client)
    return value, time.monotonic() - started


@dataclass(frozen=True)
class Footprint:
    """What the target holds at one moment (``None``: not observable)."""

    streams: float | None
    fds: int | None
    rss: float | None

    def show(self) -> str:
        rss = f"{self.rss / 2**20:.1f} MiB" if self.rss is not None else "n/a"
        streams = f"{self.streams:g}" if self.streams is not None else "n/a"
        return f"streams {streams}, fds {self.fds if self.fds is not None else 'n/a'}, RSS {rss}"


def process_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def process_rss(pid: int) -> float | None:
    try:
        return float(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def footprint(client: SidecarClient, pid: int | None) -> Footprint:
    metrics = scrape(client)
    rss = process_rss(pid) if pid is not None else metrics.get(RSS_FAMILY)
    return Footprint(
        streams=metrics.get(metric_family("streams_active").name),
        fds=process_fds(pid) if pid is not None else None,
        rss=rss,
    )


# ------------------------------------------------------------------ probe latency
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


RSS_SAMPLES = 5
"""RSS readings per memory figure (their median): one reading can land on a transient."""
RSS_SAMPLE_INTERVAL = 0.1


def steady_rss(client: SidecarClient, pid: int | None) -> float | None:
    """The median of :data:`RSS_SAMPLES` RSS readings (``None``: not observable)."""
    readings: list[float] = []
    for i in range(RSS_SAMPLES):
        if i:
            time.sleep(RSS_SAMPLE_INTERVAL)
        rss = footprint(client, pid).rss
        if rss is None:
            return None
        readings.append(rss)
    return statistics.median(readings)


def settled_rss(client: SidecarClient, pid: int | None, timeout: float = 5.0) -> float | None:
    """:func:`steady_rss` once it stops growing (by less than 1 MiB between two medians, or
    after ``timeout`` seconds): a loaded machine may still be filling buffers."""
    deadline = time.monotonic() + timeout
    last = steady_rss(client, pid)
    while last is not None and time.monotonic() < deadline:
        now = steady_rss(client, pid)
        if now is None or now - last < 2**20:
            return now if now is None else max(now, last)
        last = now
    return last


def mib(value: float) -> str:
    return f"{value / 2**20:.2f} MiB"


def stalled_reader_cost(
    start: float, control: float, held: float, readers: int
) -> tuple[float, str]:
    """Bytes per stalled reader, and the formula with its numbers. The same output read by
    one fast reader (``control - start``) is the session's own cost; a negative change
    (garbage collected during the fast read) is clamped to 0, never billed to readers."""
    output_cost = max(0.0, control - start)
    per_reader = max(0.0, held - control - output_cost) / readers
    formula = (
        f"per reader = (with stalled readers {mib(held)} - after one fast read "
        f"{mib(control)} - output cost max(0, {mib(control)} - start {mib(start)}) = "
        f"{mib(output_cost)}) / {readers} readers = {mib(per_reader)}"
    )
    return per_reader, formula


# ------------------------------------------------------------------ timing re-checks
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


@contextlib.contextmanager
def all_reset(sockets: list[StreamSocket]) -> Iterator[list[StreamSocket]]:
    try:
        yield sockets
    finally:
        for s in sockets:
            s.reset()

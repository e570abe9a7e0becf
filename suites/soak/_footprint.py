"""What the target holds: its streams gauge and, with its PID, its fds and RSS from
``/proc``; RSS medians, and the cost of a stalled reader."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from contract import metric_family
from suites.clientkit.client import SidecarClient
from suites.soak._gauges import scrape

RSS_FAMILY = "process_resident_memory_bytes"
"""The standard Prometheus process collector's RSS family (optional on a target)."""
PAGE = os.sysconf("SC_PAGE_SIZE")


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

"""Sampling the target while it is loaded: its whole process tree (CPU, RSS) and, when it
serves /metrics, its active sessions and streams."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from contract import metric_family
from suites.clientkit.client import tls_context
from suites.clientkit.metrics import UNREADABLE, counter_total, parse_families, unlabelled

CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Sample:
    t: float
    """Seconds since sampling started."""
    cpu_cores: float
    """CPU used by the process tree, in cores (1.0 = one core busy)."""
    rss_mib: float
    """Resident memory of the process tree, each shared page counted once (the sum of the
    processes' PSS; their RSS where PSS is not readable). Summed RSS counts the pages the
    tool children share with each other (libpython, ~10 MiB a child) once per child: it
    followed the number of children alive at the sample, not the memory the pod holds."""
    processes: int
    active_sessions: float | None = None
    active_streams: float | None = None
    finished_sessions: float | None = None
    """Sessions finished so far (the sessions-finished counter of /metrics, all statuses)."""


def resident(proc: psutil.Process) -> int:
    """``proc``'s proportional set size (its private pages, and its share of each shared
    one), or its RSS where the kernel does not show it (no smaps, no permission)."""
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.AccessDenied, AttributeError):
        return int(proc.memory_info().rss)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


FINISHED = metric_family("sessions_finished").name


def _metrics(url: str, secret: str | None) -> tuple[float | None, float | None, float | None]:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    try:
        text = httpx.get(f"{url}/metrics", headers=headers, timeout=2, verify=tls_context()).text
        families = parse_families(text)
    except (httpx.HTTPError, *UNREADABLE):
        return None, None, None
    values = unlabelled(families)
    return (
        values.get(metric_family("sessions_active").name),
        values.get(metric_family("streams_active").name),
        counter_total(families, FINISHED),
    )


@dataclass
class ProcessSampler:
    """Samples every ``interval`` seconds in a background thread until stopped."""

    pid: int | None
    url: str
    secret: str | None = None
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")
        self._started = time.monotonic()

    def start(self) -> ProcessSampler:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(5)
        return self.samples

    def _run(self) -> None:
        root = psutil.Process(self.pid) if self.pid else None
        cpu_seen: dict[int, float] = {}
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            cpu = rss = 0.0
            procs = _tree(root) if root else []
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    total = times.user + times.system
                    cpu += total - cpu_seen.get(proc.pid, total)
                    cpu_seen[proc.pid] = total
                    rss += resident(proc)
                except psutil.NoSuchProcess:
                    continue
            sessions, streams, finished = _metrics(self.url, self.secret)
            self.samples.append(
                Sample(
                    t=round(now - self._started, 3),
                    cpu_cores=round(cpu / (now - last), 4),
                    rss_mib=round(rss / 2**20, 2),
                    processes=len(procs),
                    active_sessions=sessions,
                    active_streams=streams,
                    finished_sessions=finished,
                )
            )
            last = now


def cgroup_limits() -> dict[str, Any]:
    """The cgroup v2 memory/cpu files of this machine, when present (for the report)."""
    found: dict[str, Any] = {}
    for name in ("memory.max", "memory.current", "cpu.max"):
        path = CGROUP / name
        if path.is_file():
            found[name] = path.read_text().strip()
    return found


def as_dicts(samples: list[Sample]) -> list[dict[str, Any]]:
    return [asdict(s) for s in samples]

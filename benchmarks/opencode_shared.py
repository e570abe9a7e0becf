"""The sidecar on the real OpenCode against one bare ``opencode serve``, side by side in one
run (prints figures and ratios; not a test).

Both play the same sessions with the same fake model: N concurrent sessions of its
``long_running`` scenario (20 turns, each a ``bash`` call of ``sleep 0.5``), for each N of
``--sessions``. For each side and N:

* peak memory of its process tree while the sessions run, each shared page counted once
  (the sum of PSS; sampled every 0.2 s), and its idle figure before the sessions;
* time from the start request to the first tool event of each session (median, max):
  the sidecar's ``POST /sessions`` to its first ``tool_call`` event; the bare OpenCode's
  ``POST /session`` (then ``prompt_async``) to the first running ``tool`` part on its bus;
* time until all sessions ended, and the CPU seconds the tree used meanwhile (live
  processes' user + system time and that of the children they reaped).

Targets (issue 35): at 5 sessions, peak memory <= 1.2x the bare OpenCode's and the first
tool event median <= 1.3x; at 1 session, the first tool event within 1 s of the bare one.

The bare OpenCode runs with the same quiet settings the sidecar gives its own (no
autoupdate, models fetch, plugins, file watcher, project config) and its built-in tools,
unconfined; its provider points at the fake model directly. The machine may be shared:
report CPU seconds with the times.

    .tox/test/bin/python benchmarks/opencode_shared.py [--sessions 1,5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadtests.sampler import resident
from reference_server.runtimes.opencode_process import OpenCodeProcess, find_binary
from suites.clientkit.client import model_config
from suites.clientkit.harness import fake_model_server, reference_argv, start_server

SCENARIO = "long_running"
TOOLS = ("read", "write", "edit", "bash")
TARGET_MEMORY = 1.2
TARGET_FIRST_TOOL = 1.3
TARGET_FIRST_TOOL_ONE = 1.0


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_pss(pid: int) -> int:
    total = 0
    for proc in tree(psutil.Process(pid)):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += resident(proc)
    return total


def tree_cpu(pid: int) -> float:
    total = 0.0
    for proc in tree(psutil.Process(pid)):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


class PeakSampler:
    """The peak of :func:`tree_pss` while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss(self.pid))
            self._stop.wait(0.2)


@dataclass
class Figures:
    idle_mib: float
    peak_mib: float
    first_tool_s: list[float]
    all_ended_s: float
    cpu_s: float
    outcomes: list[str] = field(default_factory=list)

    @property
    def first_median(self) -> float:
        return statistics.median(self.first_tool_s) if self.first_tool_s else float("nan")

    def line(self, name: str) -> str:
        first = f"{self.first_median:.2f} s median, {max(self.first_tool_s, default=0):.2f} s max"
        return (
            f"  {name:<9} peak {self.peak_mib:7.0f} MiB (idle {self.idle_mib:5.0f})"
            f" | first tool event {first} | all ended {self.all_ended_s:5.1f} s"
            f" | CPU {self.cpu_s:5.1f} s | {', '.join(sorted(set(self.outcomes)))}"
        )


# ------------------------------------------------------------------ the sidecar
async def sidecar_session(base: str, model_url: str, started: float) -> tuple[float, str]:
    session_id = str(uuid.uuid4())
    first = float("nan")
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        config = model_config(SCENARIO, model_url, "sk-bench", enabled_tools=TOOLS)
        body = {"session_id": session_id, "prompt": "Wait.", "model_config": config}
        created = await http.post("/sessions", json=body)
        if created.status_code >= 400:
            return first, f"refused {created.status_code}: {created.text[:200]}"
        last = ""
        async with http.stream("GET", f"/sessions/{session_id}/stream") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    last = line[6:].strip()
                    if last == "tool_call" and first != first:
                        first = time.monotonic() - started
                    if last in ("complete", "error", "cancelled"):
                        break
    return first, last


async def sidecar_run(base: str, model_url: str, n: int) -> tuple[list[float], float, list[str]]:
    started = time.monotonic()
    results = await asyncio.gather(
        *(sidecar_session(base, model_url, time.monotonic()) for _ in range(n))
    )
    return [r[0] for r in results], time.monotonic() - started, [r[1] for r in results]


def measure_sidecar(model_url: str, counts: list[int], root: Path) -> dict[int, Figures]:
    argv = reference_argv(root / "ws", "--runtime", "opencode", "--max-sessions", str(max(counts)))
    out: dict[int, Figures] = {}
    with start_server(argv, timeout=180) as server:
        pid = server.process.pid
        time.sleep(3)
        for n in counts:
            idle = tree_pss(pid)
            cpu = tree_cpu(pid)
            with PeakSampler(pid) as sampler:
                firsts, ended, outcomes = asyncio.run(sidecar_run(server.url, model_url, n))
            out[n] = Figures(
                idle / 2**20, sampler.peak / 2**20, firsts, ended, tree_cpu(pid) - cpu, outcomes
            )
            time.sleep(3)  # finished sessions deleted, instances disposed
    return out


# ------------------------------------------------------------------ the bare OpenCode
def bare_config(model_url: str) -> dict[str, Any]:
    return {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "snapshot": False,
        "lsp": False,
        "formatter": False,
        "enabled_providers": ["fake"],
        "permission": {"bash": "allow", "edit": "allow", "read": "allow"},
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "fake model",
                "options": {"baseURL": model_url, "apiKey": "sk-bench"},
                "models": {SCENARIO: {"name": SCENARIO, "tool_call": True, "temperature": True}},
            }
        },
    }


async def bare_session(process: OpenCodeProcess, directory: Path) -> tuple[float, str]:
    started = time.monotonic()
    channel = await process.create_session(directory, directory.name)
    body = {
        "model": {"providerID": "fake", "modelID": SCENARIO},
        "parts": [{"type": "text", "text": "Wait."}],
    }
    await process.prompt(channel, body)
    first = float("nan")
    while True:
        item = await channel.queue.get()
        if not isinstance(item, tuple):
            return first, "exited"
        kind, props = item
        part = props.get("part") or {}
        status = (part.get("state") or {}).get("status")
        tool_seen = part.get("type") == "tool" and status in ("running", "completed", "error")
        if kind == "message.part.updated" and tool_seen and first != first:
            first = time.monotonic() - started
        if kind == "session.idle":
            return first, "complete"
        if kind == "session.error":
            return first, "error"


async def bare_measure(
    binary: Path, model_url: str, counts: list[int], root: Path
) -> dict[int, Figures]:
    process = OpenCodeProcess(binary, root / "bare-state", bare_config(model_url), 180)
    await process.start()
    assert process._proc is not None
    pid = process._proc.pid
    out: dict[int, Figures] = {}
    try:
        await asyncio.sleep(3)
        for n in counts:
            idle, cpu = tree_pss(pid), tree_cpu(pid)
            with PeakSampler(pid) as sampler:
                started = time.monotonic()
                folders = [root / "bare-ws" / f"{n}-{i}" for i in range(n)]
                for folder in folders:
                    folder.mkdir(parents=True)
                results = await asyncio.gather(*(bare_session(process, f) for f in folders))
                ended = time.monotonic() - started
            out[n] = Figures(
                idle / 2**20,
                sampler.peak / 2**20,
                [r[0] for r in results],
                ended,
                tree_cpu(pid) - cpu,
                [r[1] for r in results],
            )
            await asyncio.sleep(3)
    finally:
        await process.close()
    return out


def ratio_line(n: int, sidecar: Figures, bare: Figures) -> str:
    memory = sidecar.peak_mib / bare.peak_mib
    first = sidecar.first_median / bare.first_median
    gap = sidecar.first_median - bare.first_median
    parts = [f"  N={n}: peak memory {memory:.2f}x", f"first tool event median {first:.2f}x"]
    parts.append(f"(+{gap:.2f} s)")
    parts.append(f"all ended {sidecar.all_ended_s / bare.all_ended_s:.2f}x")
    parts.append(f"CPU {sidecar.cpu_s / bare.cpu_s:.2f}x")
    verdicts = []
    if n >= 5:
        verdicts.append(f"memory {'MET' if memory <= TARGET_MEMORY else 'MISSED'} (<= 1.2x)")
        verdicts.append(f"first tool {'MET' if first <= TARGET_FIRST_TOOL else 'MISSED'} (<= 1.3x)")
    if n == 1:
        verdicts.append(
            f"first tool {'MET' if gap <= TARGET_FIRST_TOOL_ONE else 'MISSED'} (<= +1 s)"
        )
    return " ".join(parts) + ("  [" + "; ".join(verdicts) + "]" if verdicts else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,5", help="concurrent sessions, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    binary = find_binary(None, Path.cwd())
    load = psutil.getloadavg()
    print(f"opencode {binary}; {psutil.cpu_count()} cores, load {load[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp, fake_model_server() as model:
        root = Path(tmp)
        bare = asyncio.run(bare_measure(binary, model.url, counts, root))
        sidecar = measure_sidecar(model.url, counts, root)
    print(f"load {psutil.getloadavg()[0]:.1f} at the end")
    for n in counts:
        print(f"{n} concurrent {SCENARIO} session(s):")
        print(bare[n].line("bare"))
        print(sidecar[n].line("sidecar"))
        print(ratio_line(n, sidecar[n], bare[n]))
    print(
        json.dumps(
            {
                "bare": {n: vars(f) for n, f in bare.items()},
                "sidecar": {n: vars(f) for n, f in sidecar.items()},
            }
        )
    )


if __name__ == "__main__":
    main()

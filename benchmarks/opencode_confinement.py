"""What confinement costs per session: start-up and RSS of a confined ``opencode serve``
child (one per session on the real runtime) against an unconfined one, and the launcher's
overhead on each tool call of the fake runtime (bash, file tools). Prints figures; not a test.

    .venv/bin/python benchmarks/opencode_confinement.py [--children 3] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from reference_server.runtimes.model_relay import ModelRelay
from reference_server.runtimes.opencode import OpenCodeRuntime, OpenCodeSettings
from reference_server.runtimes.opencode_process import find_binary
from reference_server.sandbox import Sandbox


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


async def one_child(runtime: OpenCodeRuntime, name: str, root: Path) -> tuple[float, int]:
    workspace = root / name
    workspace.mkdir()
    process = runtime.process_for(name, workspace)
    started = time.perf_counter()
    await process.start()
    took = time.perf_counter() - started
    await asyncio.sleep(2)  # let it settle after start-up
    assert process._proc is not None
    rss = tree_rss(process._proc.pid)
    await process.close()
    return took, rss


async def children(sandbox: Sandbox | None, count: int, root: Path) -> list[tuple[float, int]]:
    settings = OpenCodeSettings(
        find_binary(None, Path.cwd()), root / "state", sandbox=sandbox, environ=os.environ
    )
    runtime = OpenCodeRuntime(settings)
    runtime.relay = ModelRelay(2, 30.0)
    await runtime.relay.start()
    try:
        return [await one_child(runtime, f"s{i}", root) for i in range(count)]
    finally:
        await runtime.relay.close()


def timed_calls(argv: list[str], calls: int, stdin: bytes = b"") -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def tool_overheads(sandbox: Sandbox, calls: int, root: Path) -> dict[str, float]:
    workspace = root / "tools"
    workspace.mkdir()
    (workspace / "f.txt").write_text("x")
    shell = ["/bin/sh", "-c", "true"]
    read = json.dumps({"tool": "read", "args": {"filePath": "f.txt"}}).encode()
    io = [sys.executable, "-I", "-m", "fakes.confined_io", str(workspace)]
    return {
        "bash direct (ms)": timed_calls(shell, calls),
        "bash confined (ms)": timed_calls(sandbox.command(shell, [workspace]), calls),
        "file tool in a confined child (ms)": timed_calls(io, calls, read),
    }


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    sandbox = Sandbox.probe("required")
    print(sandbox.status_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label, box in (("unconfined", None), ("confined", sandbox)):
            (root / label).mkdir()
            runs = asyncio.run(children(box, args.children, root / label))
            starts = [s for s, _ in runs]
            rss = [r for _, r in runs]
            median_start, median_rss = statistics.median(starts), statistics.median(rss)
            print(
                f"opencode serve per session, {label}: start-up median {median_start:.2f} s"
                f" (min {min(starts):.2f}, max {max(starts):.2f}); RSS median {mib(median_rss)}"
                f" (max {mib(max(rss))}) over {len(runs)} children"
            )
        for name, ms in tool_overheads(sandbox, args.calls, root).items():
            print(f"fake runtime, {name}: median {ms:.1f} over {args.calls} calls")


if __name__ == "__main__":
    main()

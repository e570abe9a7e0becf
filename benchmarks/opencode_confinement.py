"""What confinement costs per tool call (prints figures; not a test).

On both runtimes each tool call runs in a confined child: ``bash`` through the sandbox
launcher, a file tool in a child confined to the workspace alone. On the real OpenCode
runtime the call also crosses the tool bridge (OpenCode's custom tool -> HTTP on 127.0.0.1
-> the sidecar). Medians over ``--calls`` calls of:

* ``sh -c true`` run directly, and through the launcher (confined);
* a ``read`` in the confined file tool child;
* the same ``bash`` and ``read`` calls through the tool bridge, as OpenCode's custom tools
  make them (the HTTP request included; OpenCode's own side of a custom tool is a
  ``fetch``).

    .tox/test/bin/python benchmarks/opencode_confinement.py [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from reference_server.runtime import ModelConfig, SessionSpec
from reference_server.runtimes.tool_bridge import ToolBridge
from reference_server.sandbox import Sandbox
from reference_server.workspace_tools.confined import CONFINED_IO


def timed_calls(argv: list[str], calls: int, stdin: bytes = b"") -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def tool_overheads(sandbox: Sandbox, calls: int, workspace: Path) -> dict[str, float]:
    shell = ["/bin/sh", "-c", "true"]
    read = json.dumps({"tool": "read", "args": {"filePath": "f.txt"}}).encode()
    io = [sys.executable, "-I", "-m", CONFINED_IO, str(workspace)]
    return {
        "bash direct (ms)": timed_calls(shell, calls),
        "bash confined (ms)": timed_calls(sandbox.command(shell, [workspace]), calls),
        "file tool in a confined child (ms)": timed_calls(io, calls, read),
    }


async def bridge_overheads(sandbox: Sandbox, calls: int, workspace: Path) -> dict[str, float]:
    bridge = ToolBridge(sandbox, 30.0, 65536, workspace.parent / "opencode-directory")
    await bridge.start()
    model = ModelConfig("openai", "bench", "sk-bench", enabled_tools=("read", "bash"))
    bridge.attach("bench-session", SessionSpec("bench", "", model, workspace))
    headers = {"Authorization": f"Bearer {bridge.token}"}
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            for label, tool, args in (
                ("bash `true` through the bridge (ms)", "bash", {"command": "true"}),
                ("read through the bridge (ms)", "read", {"filePath": "f.txt"}),
            ):
                samples = []
                for _ in range(calls):
                    body = {"tool": tool, "args": args, "session": "bench-session"}
                    started = time.perf_counter()
                    async with http.post(bridge.url, json=body) as response:
                        answer = await response.json()
                    samples.append(time.perf_counter() - started)
                    assert "output" in answer, answer
                out[label] = statistics.median(samples) * 1000
    finally:
        await bridge.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    sandbox = Sandbox.probe("required")
    print(sandbox.status_line())
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        (workspace / "f.txt").write_text("x\n")
        figures = tool_overheads(sandbox, args.calls, workspace)
        figures.update(asyncio.run(bridge_overheads(sandbox, args.calls, workspace)))
    for name, ms in figures.items():
        print(f"{name}: median {ms:.1f} over {args.calls} calls")


if __name__ == "__main__":
    main()

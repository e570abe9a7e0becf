"""Figures of the reference sidecar (prints them; not a test):

* POST /sessions per second (``quick`` sessions against the fake model);
* events per second delivered to 1 and to 100 subscribers of one session, next to a
  minimal aiohttp SSE loop measured in the same run (target: >= 0.8x of it);
* RSS of the server process with N idle open streams (target: 10,000 in < 256 MiB).

The server runs as a subprocess (``opencode-sidecar serve``), measured from outside.

    .venv/bin/python benchmarks/bench_reference.py [--idle 1000,5000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import psutil
from aiohttp import web

from fakes.scenarios import SCENARIO_DIR
from suites.clientkit.client import model_config
from suites.clientkit.harness import python_module, reference_argv, start_server

EVENTS = 20_000


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def posts_per_second(url: str, model: str, seconds: float = 5.0) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                body = {
                    "session_id": str(uuid.uuid4()),
                    "prompt": "hi",
                    "model_config": model_config("quick", model),
                }
                response = await http.post("/sessions", json=body)
                if response.status_code == 201:
                    done += 1
                else:
                    await asyncio.sleep(0.005)  # the session limit: wait for a slot

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(8)))
        return done / (time.perf_counter() - started)


async def read_events(url: str, path: str, subscribers: int) -> float:
    """Events/s summed over all subscribers (each reads the whole stream)."""
    counts = [0] * subscribers

    async def reader(slot: int) -> None:
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            http.stream("GET", path) as response,
        ):
            async for chunk in response.aiter_raw():
                counts[slot] += chunk.count(b"\n\n")

    started = time.perf_counter()
    await asyncio.gather(*(reader(i) for i in range(subscribers)))
    return sum(counts) / (time.perf_counter() - started)


def minimal_sse_app(n: int) -> web.Application:
    """The baseline: an aiohttp handler writing n pre-encoded events, batching like ours."""
    frames = [
        f'event: output\nid: {i}\ndata: {{"text":"chunk {i}"}}\n\n'.encode()
        for i in range(1, n + 1)
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, n, 64):
            await response.write(b"".join(frames[start : start + 64]))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/stream", handler)
    return app


async def baseline(subscribers: int) -> float:
    runner = web.AppRunner(minimal_sse_app(EVENTS), access_log=None)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        return await read_events(f"http://127.0.0.1:{port}", "/stream", subscribers)
    finally:
        await runner.cleanup()


def scenario_dir(work: str) -> str:
    """The shipped scenarios plus ``bench_many``: one answer of EVENTS chunks."""
    directory = f"{work}/scenarios"
    shutil.copytree(SCENARIO_DIR, directory)
    chunks = ", ".join(f'"chunk {i} "' for i in range(EVENTS))
    with open(f"{directory}/bench_many.yaml", "w") as out:
        out.write(f"id: bench_many\ndescription: {EVENTS} chunks\nturns:\n  - chunks: [{chunks}]\n")
    return directory


def big_session(url: str, model: str) -> str:
    """A finished session with ~EVENTS events in its log (replayed by the readers)."""
    session_id = str(uuid.uuid4())
    body = {
        "session_id": session_id,
        "prompt": "hi",
        "model_config": model_config("bench_many", model),
    }
    httpx.post(f"{url}/sessions", json=body, timeout=10).raise_for_status()
    while httpx.get(f"{url}/sessions/{session_id}/status").json()["status"] == "running":
        time.sleep(0.1)
    return session_id


async def idle_streams(url: str, session_id: str, count: int, pid: int) -> tuple[float, float]:
    """RSS (MiB) before and with ``count`` open streams of a stalled session."""
    process = psutil.Process(pid)
    before = process.memory_info().rss / 2**20
    host, port = url.removeprefix("http://").split(":")
    request = (f"GET /sessions/{session_id}/stream HTTP/1.1\r\nHost: {host}\r\n\r\n").encode()
    writers = []
    for start in range(0, count, 500):
        batch = await asyncio.gather(
            *(asyncio.open_connection(host, int(port)) for _ in range(min(500, count - start)))
        )
        for reader, writer in batch:
            writer.write(request)
            writers.append((reader, writer))
        await asyncio.gather(*(w.drain() for _, w in batch))
    await asyncio.sleep(2.0)
    with_streams = process.memory_info().rss / 2**20
    for _, writer in writers:
        writer.close()
    return before, with_streams


async def measure(label: str, call: Callable[[], Awaitable[float]]) -> float:
    value = await call()
    print(f"  {label}: {value:,.0f}")
    return value


async def main(idle: list[int]) -> None:
    _raise_fd_limit()
    with (
        tempfile.TemporaryDirectory() as work,
        start_server(
            python_module("fakes", "model-server", "--port", "0", "--scenarios", scenario_dir(work))
        ) as model,
    ):
        argv = reference_argv(
            work, "--max-sessions", "64", "--heartbeat-interval", "30", log_level="error"
        )
        with start_server(argv) as server:
            url = server.url
            print(f"reference sidecar at {url}, python {sys.version.split()[0]}")
            await measure(
                "POST /sessions per second (quick sessions, 8 clients)",
                lambda: posts_per_second(url, model.url),
            )
            session_id = await asyncio.to_thread(big_session, url, model.url)
            path = f"/sessions/{session_id}/stream"
            for subscribers in (1, 100):
                ours = await read_events(url, path, subscribers)
                base = await baseline(subscribers)
                print(
                    f"  events/s to {subscribers} subscriber(s): reference {ours:,.0f}, minimal "
                    f"aiohttp SSE loop {base:,.0f}, ratio {ours / base:.2f}"
                )
            stalled = str(uuid.uuid4())
            httpx.post(  # noqa: ASYNC210 (a one-off setup call)
                f"{url}/sessions",
                json={
                    "session_id": stalled,
                    "prompt": "wait",
                    "model_config": model_config("model_stall", model.url),
                },
            ).raise_for_status()
            for count in idle:
                before, during = await idle_streams(url, stalled, count, server.process.pid)
                print(
                    f"  RSS with {count:,} idle open streams: {during:.0f} MiB "
                    f"(before {before:.0f} MiB, {(during - before) * 1024 / count:.1f} KiB/stream)"
                )
                await asyncio.sleep(2.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", default="1000,5000,10000")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.idle.split(",")]))

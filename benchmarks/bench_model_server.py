"""Chat completions per second the fake model server serves at 50 concurrent streaming
conversations (each request a full streamed reply). Prints figures; not a test.

    .venv/bin/python benchmarks/bench_model_server.py [--seconds 10] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from suites.clientkit.harness import fake_model_server

BODY = {
    "model": "hello_write",
    "stream": True,
    "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": "x"}],
    "tools": [{"type": "function", "function": {"name": "write", "parameters": {}}}],
}


async def main(seconds: float, concurrency: int) -> None:
    with fake_model_server() as server:
        done = 0
        deadline = time.perf_counter() + seconds
        url = f"{server.url}/chat/completions"
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def conversation() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    async with http.post(url, json=BODY) as response:
                        async for _ in response.content.iter_any():
                            pass
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(conversation() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
    print(
        f"fake model server: {done} streamed chat completions in {elapsed:.1f} s "
        f"at {concurrency} concurrent conversations = {done / elapsed:,.0f} completions/s "
        "(server in its own process; an aiohttp client in this one)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.concurrency))

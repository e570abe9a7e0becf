"""A transparent HTTP forwarding proxy for tests (aiohttp, a process of its own): each
request goes upstream as sent (method, path, query, headers, body), each answer comes back
with its status and headers and its body streamed chunk by chunk as it arrives (an SSE
stream flows through; the proxy re-frames it, as a real one does). WebSocket upgrades are
not forwarded: a sidecar behind it does not claim the ``websocket`` profile."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from aiohttp import ClientSession, ClientTimeout, web
from multidict import CIMultiDict

from suites.clientkit.harness import python_module, start_server

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _forwarded(headers: CIMultiDict[str] | object) -> CIMultiDict[str]:
    result: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():  # type: ignore[attr-defined]
        if name.lower() not in HOP_BY_HOP:
            result.add(name, value)
    return result


CLIENT = web.AppKey("client", ClientSession)


def _app(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        session: ClientSession = request.app[CLIENT]
        body = await request.read()
        async with session.request(
            request.method,
            upstream + request.rel_url.path_qs,
            headers=_forwarded(request.headers),
            data=body or None,
            allow_redirects=False,
        ) as answer:
            response = web.StreamResponse(status=answer.status, headers=_forwarded(answer.headers))
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def client(app: web.Application) -> AsyncIterator[None]:
        app[CLIENT] = ClientSession(
            timeout=ClientTimeout(total=None, sock_read=None), auto_decompress=False
        )
        yield
        await app[CLIENT].close()

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    app.cleanup_ctx.append(client)
    return app


@contextmanager
def forwarding_proxy(upstream: str) -> Iterator[str]:
    """Run the proxy (a process of its own) on a free port of 127.0.0.1; yield its base URL."""
    argv = python_module("tests.suites.forwarding_proxy", upstream)
    with start_server(argv, stderr=subprocess.DEVNULL) as proxy:
        yield proxy.url


def main(upstream: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def started(app: web.Application) -> None:
        print(f"forwarding proxy on http://127.0.0.1:{port}", flush=True)

    app = _app(upstream.rstrip("/"))
    app.on_startup.append(started)
    web.run_app(app, sock=sock, print=None)


if __name__ == "__main__":
    main(sys.argv[1])

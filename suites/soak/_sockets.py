"""Raw stream sockets on the target's host that leave abruptly (reset) or stall (half-open,
a small receive buffer). Moved out of the soak suite's ``_support``."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from enum import StrEnum
from urllib.parse import urlsplit

import httpx

from contract import operation, status_for, stream_rules
from suites.clientkit.client import SidecarClient

HEAD_END = b"\r\n\r\n"


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


@contextlib.contextmanager
def all_reset(sockets: list[StreamSocket]) -> Iterator[list[StreamSocket]]:
    try:
        yield sockets
    finally:
        for s in sockets:
            s.reset()

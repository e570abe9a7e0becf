"""Raw HTTP over a socket, for what a well-behaved client library will not send."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawAnswer:
    status: int | None
    """``None`` when the server closed without answering."""
    head: str
    body: bytes
    error: str | None = None


def _connect(url: str, timeout: float) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    sock = socket.create_connection((host, port), timeout=timeout)
    return sock, f"{host}:{port}", parts.path.rstrip("/")


def _read_answer(sock: socket.socket) -> RawAnswer:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head:
            return RawAnswer(None, "", b"", "closed without an answer")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        status = int(head.split(b" ", 2)[1])
        return RawAnswer(status, head.decode("latin-1"), body)
    except (OSError, ValueError, IndexError) as exc:
        return RawAnswer(None, data.decode("latin-1"), b"", f"{type(exc).__name__}: {exc}")


def post_oversized(
    url: str, path: str, size: int, headers: dict[str, str], timeout: float = 10.0
) -> RawAnswer:
    """POST a JSON body of ``size`` bytes, reading the answer even if the server stops
    reading early (as it should, answering 413)."""
    sock, host, base = _connect(url, timeout)
    with sock:
        lines = [
            f"POST {base}{path} HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {size}",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        prefix = b'{"prompt": "'
        block = b"x" * 65536
        sent = 0
        try:
            sock.sendall(prefix)
            sent = len(prefix)
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the server stopped reading: its answer should be waiting
        return _read_answer(sock)


def raw_get(url: str, path: str, header_lines: list[str], timeout: float = 10.0) -> RawAnswer:
    """GET with header lines sent byte for byte (bare CR, odd spacing), then the answer."""
    sock, host, base = _connect(url, timeout)
    with sock:
        lines = [f"GET {base}{path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        try:
            sock.sendall(("\r\n".join([*lines, *header_lines]) + "\r\n\r\n").encode())
        except OSError as exc:
            return RawAnswer(None, "", b"", f"{type(exc).__name__}: {exc}")
        return _read_answer(sock)

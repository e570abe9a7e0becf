"""Starting servers as subprocesses (suites reach sidecars over HTTP only, never by import)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

URL_MARKERS = ("http://", "https://")


class ServerStartError(RuntimeError):
    """A server process exited or printed no URL in time."""


@dataclass
class ServerProcess:
    """A server we started: its process and the base URL it printed."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _first_url(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        for token in line.split():
            if token.startswith(URL_MARKERS):
                return token.rstrip("/")
    process.kill()
    process.wait()
    raise ServerStartError(
        f"{' '.join(map(str, process.args))} printed no URL within {timeout:g} s"  # type: ignore[arg-type]
        + (f": {seen[-1]}" if seen else "")
    )


@contextmanager
def start_server(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    stderr: int | None = subprocess.DEVNULL,
) -> Iterator[ServerProcess]:
    """Run ``argv`` (which prints its base URL on stdout), yield it, stop it on exit."""
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
    )
    server = ServerProcess(process, _first_url(process, timeout))
    try:
        yield server
    finally:
        server.stop()
        if process.stdout is not None:
            process.stdout.close()


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@contextmanager
def fake_model_server() -> Iterator[ServerProcess]:
    """The fake OpenAI-compatible model server on a free port of 127.0.0.1."""
    with start_server(python_module("fakes", "model-server", "--port", "0")) as server:
        yield server


def reference_argv(
    workspace: Path | str, *options: str, log_level: str = "warn", port: str = "0"
) -> list[str]:
    """``opencode-sidecar serve`` on a free port of 127.0.0.1 (or ``port``) with ``options``
    (``--runtime``, ``--max-sessions``, ``--secret``... as ``serve`` takes)."""
    return python_module(
        "opencode_sidecar",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--workspace",
        str(workspace),
        "--log-level",
        log_level,
        *options,
    )


def faulty_argv(name: str, workspace: Path | str, *options: str, port: str = "0") -> list[str]:
    """``python -m fakes faulty NAME`` on a free port of 127.0.0.1 (or ``port``)."""
    return python_module(
        "fakes", "faulty", name, "--port", port, "--workspace", str(workspace), *options
    )

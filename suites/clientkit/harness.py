"""Starting servers as subprocesses (suites reach sidecars over HTTP only, never by import)."""

from __future__ import annotations

import json
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
from typing import Any

URL_MARKERS = ("http://", "https://")


class ServerStartError(RuntimeError):
    """A server process exited or printed no URL in time."""


@dataclass
class ServerProcess:
    """A server we started: its process and the base URL it printed."""

    process: subprocess.Popen[str]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

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


@dataclass
class ForkedServer:
    """A server a :class:`Forkserver` forked: its pid and the base URL it printed."""

    pid: int
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` (the forkserver reaps it)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.02)


class Forkserver:
    """One warm ``python -m fakes forkserver``: starts ``python -m fakes ARGS`` servers by
    forking it (no interpreter start, no imports per server)."""

    def __init__(
        self, stderr: int | None = subprocess.DEVNULL, env: Mapping[str, str] | None = None
    ) -> None:
        """``env``: added to this process's environment for the warm process, so each forked
        server holds it in ``/proc/<pid>/environ`` as an exec'd one would."""
        self.process = subprocess.Popen(
            python_module("fakes", "forkserver"),
            env={**os.environ, **env} if env else None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self._reply()  # {"ready": pid}

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise ServerStartError(f"the forkserver exited ({self.process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    @contextmanager
    def server(self, fakes_args: Sequence[str]) -> Iterator[ForkedServer]:
        """``python -m fakes FAKES_ARGS`` (a server printing its URL), stopped on exit."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(list(fakes_args)) + "\n")
        self.process.stdin.flush()
        reply = self._reply()
        urls = [t for t in str(reply["line"]).split() if t.startswith(URL_MARKERS)]
        if not urls:
            raise ServerStartError(f"python -m fakes {' '.join(fakes_args)}: {reply['line']!r}")
        server = ForkedServer(int(reply["pid"]), urls[0].rstrip("/"))
        try:
            yield server
        finally:
            server.stop()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


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


def faulty_args(name: str, workspace: Path | str, *options: str, port: str = "0") -> list[str]:
    """The arguments of ``python -m fakes`` that serve faulty sidecar ``name`` on a free port
    of 127.0.0.1 (or ``port``)."""
    return ["faulty", name, "--port", port, "--workspace", str(workspace), *options]


def faulty_argv(name: str, workspace: Path | str, *options: str, port: str = "0") -> list[str]:
    """``python -m fakes faulty NAME ...`` (see :func:`faulty_args`)."""
    return python_module("fakes", *faulty_args(name, workspace, *options, port=port))

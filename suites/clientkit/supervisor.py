"""A restartable server: ``run`` keeps a server alive on one fixed port, ``restart`` kills
it with SIGKILL and waits until the next one listens. What the durability suite's
``--sidecar-restart-cmd`` needs from a local process:

    python -m suites.clientkit.supervisor run --state DIR -- CMD... --port {port} ...
    python -m suites.clientkit.supervisor restart --state DIR      # the restart command

``run`` picks a free port of 127.0.0.1 (or ``--port``), puts it in place of ``{port}``,
starts the server, prints the server's URL line once (so callers find the URL as they would
from the server itself), and starts the server again whenever it dies, until ``run`` gets
SIGTERM or SIGINT, which it forwards. ``DIR/pid`` holds the server's pid, ``DIR/generation``
how many times it has started (written once it prints its URL).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from suites.clientkit.harness import URL_MARKERS, python_module

MODULE = "suites.clientkit.supervisor"
PORT_PLACEHOLDER = "{port}"
START_TIMEOUT = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def supervised_argv(state: Path, argv: Sequence[str], port: int | None = None) -> list[str]:
    """``argv`` (with ``{port}`` where the port goes) under ``run``."""
    chosen = ["--port", str(port)] if port is not None else []
    return python_module(
        "suites.clientkit.supervisor", "run", "--state", str(state), *chosen, "--", *argv
    )


def restart_command(state: Path) -> str:
    """The shell command that kills the supervised server and waits until it is back."""
    return shlex.join(python_module(MODULE, "restart", "--state", str(state)))


class Supervisor:
    def __init__(self, state: Path, argv: list[str]) -> None:
        self.state = state
        self.argv = argv
        self.stopping = False
        self.child: subprocess.Popen[str] | None = None
        self.generation = 0

    def stop(self, signum: int, _frame: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def start_child(self) -> str | None:
        """Start the server; its URL line, or ``None`` if it printed none."""
        child = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)
        self.child = child
        assert child.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        url_line = None
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            if any(marker in line for marker in URL_MARKERS):
                url_line = line
                break
        threading.Thread(target=_drain, args=(child.stdout,), daemon=True).start()
        self.generation += 1
        _write(self.state / "pid", str(child.pid))
        _write(self.state / "generation", str(self.generation))
        return url_line

    def run(self) -> int:
        while True:
            url_line = self.start_child()
            if url_line is None and self.generation == 1:
                print("supervisor: the server printed no URL", file=sys.stderr)
                self.stop(signal.SIGKILL, None)
                return 2
            if self.generation == 1 and url_line is not None:
                sys.stdout.write(url_line)
                sys.stdout.flush()
            assert self.child is not None
            code = self.child.wait()
            if self.stopping:
                return code
            time.sleep(0.05)


def _drain(stream: IO[str]) -> None:
    for _line in stream:
        continue


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    port = args.port or free_port()
    argv = [a.replace(PORT_PLACEHOLDER, str(port)) for a in argv]
    args.state.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(args.state, argv)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()


def _restart(args: argparse.Namespace) -> int:
    before = _read(args.state / "generation")
    pid = _read(args.state / "pid")
    if not pid:
        print(f"supervisor: no server pid in {args.state}", file=sys.stderr)
        return 2
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if _read(args.state / "generation") != before:
            return 0
        time.sleep(0.05)
    print(f"supervisor: the server did not come back within {args.timeout:g} s", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suites.clientkit.supervisor", description=__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a server, restarting it whenever it dies")
    run.add_argument("--state", type=Path, required=True, help="directory for pid/generation")
    run.add_argument("--port", type=int, default=None, help="the fixed port (default: a free one)")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- the server's command")
    run.set_defaults(func=_run)
    restart = sub.add_parser("restart", help="SIGKILL the server and wait until it is back")
    restart.add_argument("--state", type=Path, required=True)
    restart.add_argument("--timeout", type=float, default=START_TIMEOUT)
    restart.set_defaults(func=_restart)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

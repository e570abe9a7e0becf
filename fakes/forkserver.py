"""``python -m fakes forkserver``: start ``python -m fakes ARGS`` servers by forking one warm
process, instead of starting (and importing) a new interpreter for each.

The self-test starts a faulty sidecar for every (fault, suite) pair; an interpreter start
and the imports cost about 0.3 s of CPU each time, which the fork does not. Each child *is*
``python -m fakes ARGS``: its own pid (the soak suite reads its RSS), its first stdout line
carries its URL, SIGTERM stops it like any server. Written by hand rather than with
``multiprocessing``'s forkserver, which runs pickled callables whose stdout it does not hand
back; here the protocol is one JSON line in (the argv) and one JSON line out (the child's
pid and first stdout line). The warm process starts no thread, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

FIRST_LINE_TIMEOUT = 30.0
Main = Callable[[list[str]], int]


def _warm() -> None:
    """Load and cache what every child needs, once (children share it copy-on-write); the
    modules came with ``main`` (every fault module, the reference app, aiohttp)."""
    from contract import load_catalogue, load_openapi, stream_rules

    load_openapi()
    load_catalogue()
    stream_rules()


def _child(main: Main, argv: Sequence[str], write_end: int) -> None:
    """In the forked child: become ``python -m fakes ARGV`` with stdout on ``write_end``."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the child runs bash via asyncio
        random.seed()
        os.dup2(write_end, 1)
        os.close(write_end)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)


def _first_line(read_end: int) -> str:
    data = b""
    while b"\n" not in data:
        ready, _, _ = select.select([read_end], [], [], FIRST_LINE_TIMEOUT)
        if not ready:
            break
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")


def _close_finished(pipes: dict[int, int]) -> None:
    """Close the read ends of children that exited (their later output was not read)."""
    for pid in list(pipes):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os.close(pipes.pop(pid))


def serve(main: Main, stdin: int = 0, stdout: int = 1) -> int:
    """Fork ``main(argv)`` for each JSON argv line on ``stdin`` (``python -m fakes``'s own
    ``main``, handed in: this module imports no command of its own)."""
    _warm()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    pipes: dict[int, int] = {}
    out = os.fdopen(stdout, "w", buffering=1, closefd=False)
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    for raw in os.fdopen(stdin, "r", closefd=False):
        argv = json.loads(raw)
        _close_finished(pipes)
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(main, argv, write_end)
        os.close(write_end)
        pipes[pid] = read_end
        out.write(json.dumps({"pid": pid, "line": _first_line(read_end)}) + "\n")
    return 0

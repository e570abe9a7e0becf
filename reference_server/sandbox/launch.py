"""``python -I -m reference_server.sandbox.launch --read-write DIR [...] -- CMD ARGS...``

Confines itself with Landlock (:mod:`reference_server.sandbox.policy`), then ``execve``\\ s
the command, which inherits the confinement with everything it starts.

Why a launcher and not ``preexec_fn``: the sidecar has threads (the store's writer, the
event loop's executor), and code run between ``fork`` and ``exec`` of a threaded process
may deadlock on a lock another thread held (Python documents ``preexec_fn`` as unsafe
there). Here the rules are applied in a fresh single-threaded process, before ``exec``.
It fails closed: if the kernel refuses, it prints one line and exits 126 without running
the command (the sidecar decides beforehand whether an unconfined run is acceptable).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from pathlib import Path

from reference_server.sandbox.capabilities import drop_all
from reference_server.sandbox.landlock import restrict
from reference_server.sandbox.policy import confinement_rules

REFUSED = 126
_PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_server.sandbox.launch")
    parser.add_argument("--read-write", action="append", default=[], type=Path)
    parser.add_argument("--read-only", action="append", default=[], type=Path)
    parser.add_argument("--no-system", action="store_true", help="not even the system dirs")
    parser.add_argument("--cwd", type=Path, help="directory to run the command in")
    parser.add_argument(
        "--parent", type=int, help="pid of the process that starts this one (the sidecar)"
    )
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    if not _die_with_parent(args.parent):
        return REFUSED
    try:
        if args.cwd is not None:
            os.chdir(args.cwd)
        drop_all()  # CAP_SYS_PTRACE would let a root tool read other processes' environ
        restrict(confinement_rules(args.read_write, args.read_only, system=not args.no_system))
    except OSError as exc:
        print(f"sandbox: refusing to run unconfined: {exc}", file=sys.stderr)
        return REFUSED
    try:
        os.execvp(args.command[0], args.command)  # noqa: S606 (the point: exec, no shell)
    except OSError as exc:
        print(f"sandbox: cannot run {args.command[0]}: {exc}", file=sys.stderr)
    return REFUSED


def _die_with_parent(expected: int | None) -> bool:
    """SIGKILL this process (and so the command it becomes) when the sidecar dies, even by
    SIGKILL: a confined OpenCode or bash must not outlive it. False if it already died:
    a sidecar killed while this interpreter started has left it to another parent (init
    or a subreaper), whose death the signal would wait for instead; ``expected`` (the
    sidecar's pid, as it built the command) is what tells them apart."""
    parent = os.getppid() if expected is None else expected
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        print("sandbox: prctl(PR_SET_PDEATHSIG) failed", file=sys.stderr)
        return False
    return os.getppid() == parent


if __name__ == "__main__":
    sys.exit(main())

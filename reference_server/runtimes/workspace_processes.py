"""Kill what is still running in a session's workspace when the session ends.

OpenCode aborts a session's prompt on request, but a bash command it started may outlive
the abort (tools.yaml: a cancel kills a running bash command, AGENT-CANCEL-KILLS-BASH).
Its children are not ours to wait for, so they are found the way ``fuser`` does: every
process of this user whose working directory is inside the workspace (Linux ``/proc``).
Hand-written because psutil's ``process_iter`` would add a dependency for a 20-line scan.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def processes_in(workspace: Path) -> list[int]:
    """Pids (never this process) whose working directory is ``workspace`` or below it."""
    root = workspace.resolve()
    found = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(root):
                found.append(int(entry.name))
    return found


def kill_processes_in(workspace: Path) -> int:
    """SIGKILL every process working in ``workspace``; how many were signalled."""
    killed = 0
    for pid in processes_in(workspace):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed

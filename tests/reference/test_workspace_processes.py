"""What still runs in a session's workspace is found and killed (real processes)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from reference_server.runtimes.workspace_processes import kill_processes_in, processes_in


def test_a_command_left_running_in_the_workspace_is_killed(tmp_path: Path) -> None:
    inside = tmp_path / "session"
    inside.mkdir()
    outside = tmp_path / "other"
    outside.mkdir()
    running = subprocess.Popen(["sh", "-c", "sleep 30"], cwd=inside)
    bystander = subprocess.Popen(["sleep", "30"], cwd=outside)
    try:
        time.sleep(0.2)
        assert running.pid in processes_in(inside)
        assert bystander.pid not in processes_in(inside)
        assert kill_processes_in(inside) >= 1
        assert running.wait(timeout=5) != 0
        assert bystander.poll() is None
    finally:
        running.kill()
        bystander.kill()
        running.wait()
        bystander.wait()

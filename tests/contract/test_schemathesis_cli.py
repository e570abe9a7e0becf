"""A third-party tool agrees with the contract: Schemathesis's own CLI, with the shipped
``contract/schemathesis.toml``, finds 0 failures against the reference, and its stateful
phase reaches DELETE with the ids of sessions it created (benchmarks/schemathesis_cli.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "schemathesis_cli.py"


def test_schemathesis_cli_finds_no_failure_and_reaches_delete() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    reached = re.search(r"(\d+) reached a created session", done.stdout)
    assert reached and int(reached.group(1)) > 0, done.stdout[-2000:]
    assert "--checks all --phases examples,coverage,fuzzing,stateful" in done.stdout
    assert "--exclude-checks" not in done.stdout  # the command exactly as published

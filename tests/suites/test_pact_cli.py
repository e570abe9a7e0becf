"""``opencode-sidecar pact verify`` without ``--target`` verifies the embedded reference,
like ``verify``; ``--interaction`` replays one interaction (a failure's reproduce line)."""

from __future__ import annotations

import subprocess

from suites.clientkit.harness import python_module


def test_pact_verify_without_target_verifies_the_reference() -> None:
    done = subprocess.run(
        python_module(
            "opencode_sidecar", "pact", "verify", "--interaction", "a request to start a session"
        ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Verifying the reference sidecar at http://127.0.0.1:" in done.stdout
    results = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert results == ["PASS  a request to start a session"]
    assert "Verdict: PASS 1/1" in done.stdout

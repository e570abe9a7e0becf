"""``opencode-sidecar verify --target URL`` the way an outside team first runs it: the
reference started with ``opencode-sidecar serve`` and no optional verify flag declared
(no --secret, --workspace, --session-timeout, --bash-timeout, --session-retention,
--restart-cmd...), directly and behind a transparent HTTP proxy. Exit 0, no ERROR, every
undeclared capability SKIPped with its reason naming the flag, and a profile whose every
clause skipped reads NOT VERIFIED. (Four agent clauses ERRORed with a TypeError here.)

Slow (a verify run each): the suites are the ones whose clauses depend on declared
settings (agent, retention, durability, security) and, through the proxy, the ones that
stream (conformance, agent).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suites.clientkit.harness import python_module, reference_argv, start_server
from tests.suites.forwarding_proxy import forwarding_proxy

FLAG_NAMED = re.compile(r"pass --[a-z-]+ to verify|\(see [A-Z0-9-]+\)")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    argv = reference_argv(tmp_path_factory.mktemp("outside") / "workspace")
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        yield server.url


def _verify(url: str, report: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = subprocess.run(
        python_module(
            "opencode_sidecar", "verify", "--target", url, *args, "--report", str(report)
        ),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-2000:]
    return done, json.loads(report.read_text())


def _assert_honest_outcome(done: subprocess.CompletedProcess[str], report: Any) -> None:
    assert done.returncode == 0, done.stdout[-4000:]
    assert report["verdict"] == "pass"
    errors = [c["id"] for c in report["clauses"] if c["outcome"] == "error"]
    assert errors == [], done.stdout[-4000:]
    for clause in report["clauses"]:
        if clause["outcome"] == "skip":
            for test in clause["tests"]:
                assert FLAG_NAMED.search(test["message"]), (clause["id"], test["message"])
    for profile in report["profiles"]:
        counted = sum(profile[o] for o in ("pass", "fail", "skip", "error"))
        if counted and profile["skip"] == counted:
            assert profile["outcome"] == "not verified", profile


def test_default_verify_of_a_reference_with_no_flag_declared(
    reference: str, tmp_path: Path
) -> None:
    done, report = _verify(
        reference, tmp_path / "r.json", "--suite", "agent,retention,durability,security"
    )
    _assert_honest_outcome(done, report)
    skipped = {c["id"] for c in report["clauses"] if c["outcome"] == "skip"}
    assert {"AGENT-MODEL-ENDLESS", "AGENT-CANCEL-KILLS-BASH", "AGENT-TOOL-DISK"} <= skipped
    assert "AGENT-BASH-TIMEOUT" in skipped
    durable = next(p for p in report["profiles"] if p["name"] == "durable")
    assert durable["outcome"] == "not verified"
    assert "NOT VERIFIED" in done.stdout


def test_default_verify_through_a_transparent_http_proxy(reference: str, tmp_path: Path) -> None:
    with forwarding_proxy(reference) as proxy:
        done, report = _verify(
            proxy, tmp_path / "r.json", "--suite", "conformance,agent", "--profile", "core,agent"
        )
    _assert_honest_outcome(done, report)
    assert report["summary"]["pass"] > 0

"""Shared servers for the tests (subprocesses on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from suites.clientkit.harness import fake_model_server, python_module, reference_argv, start_server


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    with fake_model_server() as server:
        yield server.url


@pytest.fixture
def verify_reference(model_url: str, tmp_path: Path) -> Callable[..., dict[str, dict[str, Any]]]:
    """``(settings, *verify_args)``: the reference served with ``settings`` and judged by
    ``opencode-sidecar verify`` (a process of its own) told the same settings; each
    clause's report by id. The verify run must succeed."""

    def judged(settings: tuple[str, ...], *verify_args: str) -> dict[str, dict[str, Any]]:
        argv = reference_argv(tmp_path / "workspace", *settings)
        report = tmp_path / "report.json"
        with start_server(argv, stderr=subprocess.DEVNULL) as server:
            done = subprocess.run(
                python_module(
                    "opencode_sidecar",
                    "verify",
                    *("--target", server.url, "--model-endpoint", model_url, *settings),
                    *(*verify_args, "--report", str(report)),
                ),
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return {c["id"]: c for c in json.loads(report.read_text())["clauses"]}

    return judged

"""Shared servers for the tests (subprocesses on 127.0.0.1), and how a parallel run
spreads the tests that use most CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from suites.clientkit.harness import fake_model_server

ROOT = Path(__file__).resolve().parent.parent

CPU_HEAVY = frozenset(
    {
        # CPU seconds of the module alone (/usr/bin/time pytest -q MODULE, user + sys):
        "tests/loadtests/test_load.py",  # 70: Locust processes, a reference, plots
        "tests/reference/test_opencode_runtime.py",  # 30: the real opencode serve
        "tests/reference/test_sandbox_runtimes.py",  # 29: the real opencode serve, confined
        "tests/contract/test_schemathesis_cli.py",  # 15: Schemathesis's own CLI
    }
)
"""Modules that keep a core busy: one worker runs them one after another (``--dist
loadgroup``), so that they never starve the timing of the checks running beside them."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist names the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(ROOT).as_posix() in CPU_HEAVY:
            item.add_marker(pytest.mark.xdist_group("cpu_heavy"))


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    with fake_model_server() as server:
        yield server.url

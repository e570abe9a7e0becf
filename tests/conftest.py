"""Shared servers for the tests (subprocesses on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from suites.clientkit.harness import fake_model_server


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    with fake_model_server() as server:
        yield server.url

"""Shared servers for the tests (subprocesses on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from suites.clientkit.harness import fake_model_server


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    with fake_model_server() as server:
        yield server.url


SELF_TEST = "tests/suites/test_faulty_selftest.py::"
"""The self-test's (fault, suite) pairs: 134 whole-suite runs of about 5-30 s each."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The self-test's pairs run last (the rest keep their order): many and short, they keep
    every worker busy to the end, where a long single test collected after them (a 22 s
    retention watch, a whole conformance run against small caps) left one worker running
    alone."""
    items.sort(key=lambda item: item.nodeid.startswith(SELF_TEST))

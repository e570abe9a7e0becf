"""A reference sidecar on a real socket, on the fake runtime, against the fake model server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from fakes.model_server import ModelServer
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.app import create_app
from reference_server.config import Config
from reference_server.runtimes.opencode_process import OpenCodeMissing, find_binary
from reference_server.serve import running
from suites.clientkit.client import AsyncSidecarClient, model_config


@pytest.fixture(scope="session")
def opencode_bin() -> Path:
    """The real OpenCode (``opencode-sidecar install-opencode``); without it the tests that
    need it skip, unless OPENCODE_SIDECAR_REQUIRE_OPENCODE=1 (set by tox: CI never skips)."""
    try:
        return find_binary(None, Path.cwd())
    except OpenCodeMissing as exc:
        if os.environ.get("OPENCODE_SIDECAR_REQUIRE_OPENCODE") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
async def model_server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@dataclass
class Sidecar:
    url: str
    config: Config
    client: AsyncSidecarClient
    model_url: str

    def config_for(self, scenario: str, **extra: Any) -> dict[str, Any]:
        return model_config(scenario, self.model_url, "sk-test-secret-key-123", **extra)

    async def start(self, scenario: str, **extra: Any) -> str:
        session_id = str(uuid.uuid4())
        response = await self.client.create_session(
            session_id, f"Play {scenario}.", self.config_for(scenario, **extra)
        )
        assert response.status_code == 201, response.text
        return session_id


SidecarFactory = Callable[..., Any]


def base_config(tmp_path: Path) -> Config:
    return Config(
        host="127.0.0.1",
        port=0,
        workspace_dir=tmp_path / "workspace",
        heartbeat_interval=0.5,
        session_timeout=10.0,
        max_concurrent_sessions=3,
        shutdown_grace=2.0,
        model_read_timeout=5.0,
    )


@pytest.fixture
async def make_sidecar(
    tmp_path: Path, model_server: ModelServer
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_sidecar(**config_overrides)`` -> a running :class:`Sidecar`."""
    stack: list[Any] = []

    async def make(**overrides: Any) -> Sidecar:
        config = replace(base_config(tmp_path), **overrides)
        config.workspace_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(config, FakeOpenCodeRuntime(read_timeout=config.model_read_timeout))
        context = running(app, config)
        url = await context.__aenter__()
        client = AsyncSidecarClient(url, config.shared_secret)
        stack.append((context, client))
        return Sidecar(url, config, client, model_server.url)

    yield make
    for context, client in reversed(stack):
        await client.http.aclose()
        await context.__aexit__(None, None, None)


@pytest.fixture
async def sidecar(make_sidecar: Callable[..., Any]) -> Sidecar:
    result: Sidecar = await make_sidecar()
    return result

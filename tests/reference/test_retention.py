"""Session retention (STREAM_RULES.md#retention): finished sessions leave after
SESSION_RETENTION seconds or beyond MAX_RETAINED_SESSIONS, and the store deletes them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from contract import retention_rules, status_for
from fakes.model_server import ModelServer
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.app import create_app
from reference_server.serve import running
from reference_server.storage import FILE_NAME, Storage
from suites.clientkit.client import AsyncSidecarClient, model_config
from tests.reference.conftest import Sidecar, base_config


async def _finished(sidecar: Sidecar, session_id: str) -> None:
    for _ in range(200):
        body = (await sidecar.client.status(session_id)).json()
        if body["status"] != "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{session_id} did not finish")


async def test_a_finished_session_is_readable_then_gone_after_retention(
    make_sidecar: Callable[..., Any],
) -> None:
    sidecar: Sidecar = await make_sidecar(session_retention=1.0)
    session_id = await sidecar.start("quick")
    await _finished(sidecar, session_id)
    assert (await sidecar.client.status(session_id)).status_code == status_for(
        "getSessionStatus", "status"
    )
    await asyncio.sleep(retention_rules().gone_by(1.0))
    gone = await sidecar.client.status(session_id)
    assert gone.status_code == retention_rules().expired_status("getSessionStatus")
    assert gone.json()["error"]
    cancel = await sidecar.client.cancel(session_id)
    assert cancel.status_code == retention_rules().expired_status("cancelSession")


async def test_beyond_the_cap_the_oldest_finished_session_goes_first(
    make_sidecar: Callable[..., Any],
) -> None:
    sidecar: Sidecar = await make_sidecar(max_retained_sessions=2)
    ids = []
    for _ in range(3):
        ids.append(await sidecar.start("quick"))
        await _finished(sidecar, ids[-1])
    codes = [(await sidecar.client.status(i)).status_code for i in ids]
    ok = status_for("getSessionStatus", "status")
    assert codes == [retention_rules().expired_status("getSessionStatus"), ok, ok]


async def test_a_session_leaving_retention_takes_its_workspace_directory_along(
    make_sidecar: Callable[..., Any],
) -> None:
    """STREAM_RULES.md#retention: disk does not grow with every session either (by time,
    and by the cap)."""
    sidecar: Sidecar = await make_sidecar(max_retained_sessions=1, session_retention=1.0)
    first = await sidecar.start("hello_write")
    await _finished(sidecar, first)
    workspace = sidecar.config.workspace_dir
    assert (workspace / first).is_dir()
    second = await sidecar.start("hello_write")
    await _finished(sidecar, second)
    await sidecar.client.status(first)  # evicted by the cap: gone, workspace too
    for _ in range(40):
        if not (workspace / first).exists():
            break
        await asyncio.sleep(0.05)
    assert not (workspace / first).exists()
    assert (workspace / second).is_dir()
    await asyncio.sleep(retention_rules().gone_by(1.0))
    await sidecar.client.status(second)  # expired by time
    for _ in range(40):
        if not (workspace / second).exists():
            break
        await asyncio.sleep(0.05)
    assert not (workspace / second).exists()


async def test_the_store_deletes_sessions_past_retention_and_reclaims_space(
    tmp_path: Path, model_server: ModelServer
) -> None:
    config = replace(base_config(tmp_path), storage_dir=tmp_path / "store", max_retained_sessions=0)
    config.workspace_dir.mkdir(parents=True)
    storage = Storage.open(tmp_path / "store")
    app = create_app(config, FakeOpenCodeRuntime(read_timeout=5.0), storage=storage)
    async with running(app, config) as url, AsyncSidecarClient(url) as client:
        for n in range(8):
            session_id = f"00000000-0000-4000-8000-{n:012d}"
            body = model_config("chatty", model_server.url, "sk-x")
            assert (await client.create_session(session_id, "p", body)).status_code == 201
            for _ in range(200):
                if (await client.status(session_id)).status_code != 200:
                    break
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the writer's next batch
    db = sqlite3.connect(tmp_path / "store" / FILE_NAME)
    assert db.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
    [freelist] = db.execute("PRAGMA freelist_count").fetchone()
    assert freelist < 50  # freed pages went back to the file system
    assert Storage.open(tmp_path / "store").load() == []


async def test_a_restart_drops_the_sessions_that_expired_meanwhile(
    tmp_path: Path, model_server: ModelServer
) -> None:
    config = replace(base_config(tmp_path), storage_dir=tmp_path / "store")
    config.workspace_dir.mkdir(parents=True)
    session_id = "00000000-0000-4000-8000-000000000001"
    app = create_app(
        config, FakeOpenCodeRuntime(read_timeout=5.0), storage=Storage.open(tmp_path / "store")
    )
    async with running(app, config) as url, AsyncSidecarClient(url) as client:
        body = model_config("quick", model_server.url, "sk-x")
        assert (await client.create_session(session_id, "p", body)).status_code == 201
        for _ in range(200):
            if (await client.status(session_id)).json()["status"] != "running":
                break
            await asyncio.sleep(0.02)
    await asyncio.sleep(1.2)
    short = replace(config, session_retention=1.0)
    app = create_app(
        short, FakeOpenCodeRuntime(read_timeout=5.0), storage=Storage.open(tmp_path / "store")
    )
    async with running(app, short) as url, AsyncSidecarClient(url) as client:
        gone = await client.status(session_id)
        assert gone.status_code == retention_rules().expired_status("getSessionStatus")


def test_retention_settings_come_from_the_environment_with_the_contracts_defaults() -> None:
    import pytest

    from reference_server.config import Config, ConfigError

    default = Config.from_env({})
    assert default.session_retention == retention_rules().default_seconds
    assert default.max_retained_sessions == retention_rules().default_max_finished
    set_ = Config.from_env({"SESSION_RETENTION": "60", "MAX_RETAINED_SESSIONS": "0"})
    assert (set_.session_retention, set_.max_retained_sessions) == (60.0, 0)
    with pytest.raises(ConfigError, match="SESSION_RETENTION"):
        Config.from_env({"SESSION_RETENTION": "-1"})
    with pytest.raises(ConfigError, match="MAX_RETAINED_SESSIONS"):
        Config.from_env({"MAX_RETAINED_SESSIONS": "many"})


async def test_a_retired_id_reused_within_one_batch_is_written_in_queue_order(
    tmp_path: Path,
) -> None:
    from reference_server.event_log import EventLog

    storage = Storage.open(tmp_path)
    first = EventLog(None, storage.committer("s"))
    storage.add_session("s", "2026-01-01T00:00:00.000Z", {"session_id": "s", "n": 1})
    first.append("status", {"status": "running", "progress": 0})
    storage.delete_sessions(["s"])
    second = EventLog(None, storage.committer("s"))
    storage.add_session("s", "2026-01-01T00:00:01.000Z", {"session_id": "s", "n": 2})
    second.append("status", {"status": "running", "progress": 0})
    storage.start(asyncio.get_running_loop())  # one batch: all of it was queued before
    await second.flushed()
    await storage.close(5.0)
    [stored] = Storage.open(tmp_path).load()
    assert stored.spec["n"] == 2 and [e.id for e in stored.events] == [1]

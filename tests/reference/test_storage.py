"""The SQLite store (STORAGE_DIR): restart, storage faults, a corrupted file, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import contract
from contract import status_for, stream_rules
from fakes.model_server import ModelServer
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.app import create_app
from reference_server.config import Config
from reference_server.event_log import Event, EventLog
from reference_server.serve import running
from reference_server.storage import FILE_NAME, Storage, StorageError
from suites.clientkit.client import AsyncSidecarClient, SidecarClient, model_config
from suites.clientkit.harness import fake_model_server, python_module, reference_argv, start_server
from suites.clientkit.waiting import until, wait_until
from tests.reference.conftest import base_config

KEY = "sk-storage-test-key-0042"


async def _serve(config: Config) -> AsyncIterator[tuple[str, Storage]]:
    storage = Storage.open(config.storage_dir or Path())
    app = create_app(
        config, FakeOpenCodeRuntime(read_timeout=config.model_read_timeout), storage=storage
    )
    async with running(app, config) as url:
        yield url, storage


async def test_events_are_published_only_once_committed(tmp_path: Path) -> None:
    storage = Storage.open(tmp_path)
    published: list[int] = []
    log = EventLog(lambda e: published.append(e.id), storage.committer("s"))
    storage.add_session("s", "2026-01-01T00:00:00.000Z", {"session_id": "s"})
    log.append("status", {"status": "running", "progress": 0})
    assert log.last_id == 0 and published == []  # staged, not visible
    storage.start(asyncio.get_running_loop())
    await log.flushed()
    assert log.last_id == 1 and published == [1]
    await storage.close(5.0)
    [stored] = Storage.open(tmp_path).load()
    assert [e.id for e in stored.events] == [1]


@pytest.mark.parametrize("fault", ["read-only", "full"])
async def test_a_failing_store_refuses_sessions_and_keeps_streams(
    tmp_path: Path, model_server: ModelServer, fault: str
) -> None:
    config = replace(base_config(tmp_path), storage_dir=tmp_path / "store")
    config.workspace_dir.mkdir(parents=True)
    async for url, storage in _serve(config):
        client = AsyncSidecarClient(url)
        session_id = str(uuid.uuid4())
        created = await client.create_session(
            session_id, "go", model_config("long_running", model_server.url, KEY)
        )
        assert created.status_code == 201
        db = storage._db

        def committed(db: Any = db, session_id: str = session_id) -> int:
            query = "SELECT count(*) FROM events WHERE session_id = ?"
            return int(db.execute(query, (session_id,)).fetchone()[0])

        await until(committed, 10.0, "the session's first events committed")
        if fault == "read-only":
            db.execute("PRAGMA query_only=ON")
        else:
            [pages] = db.execute("PRAGMA page_count").fetchone()
            db.execute(f"PRAGMA max_page_count={pages}")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for _ in range(3):  # fill what is left of the last page
                big = Event.build(10_000 + _, "output", {"t": "x" * 5000})
                storage.commit(session_id, big, lambda e: None)

        async def not_ready(client: AsyncSidecarClient = client) -> httpx.Response | None:
            ready = await client.readiness()
            return ready if ready.status_code != status_for("getReadiness", "ready") else None

        ready = await until(not_ready, 10.0, "/ready refusing")
        assert ready.status_code == status_for("getReadiness", "not_ready")
        assert ready.json()["error"].startswith("storage unavailable")
        refused = await client.create_session(
            str(uuid.uuid4()), "go", model_config("quick", model_server.url, KEY)
        )
        assert refused.status_code == status_for("createSession", "limit_reached")
        body = refused.json()
        assert contract.validate_component("Error", body) == []
        assert "storage unavailable" in body["error"]
        committed = (await client.status(session_id)).json()["last_event_id"]
        async with client.open_stream(session_id) as stream:
            ids: list[str] = []
            async for event in client.events(stream):
                if event.id is not None:
                    ids.append(event.id)
                if len(ids) == committed:
                    break
        assert ids == [str(i) for i in range(1, committed + 1)]
        await client.cancel(session_id)
        await client.http.aclose()
        if fault == "read-only":
            db.execute("PRAGMA query_only=OFF")
        else:
            db.execute("PRAGMA max_page_count=1073741823")


def _damage(store: Path, how: str) -> None:
    if how == "not-a-database":
        store.mkdir()
        (store / FILE_NAME).write_bytes(b"this is not a database" * 100)
        return
    storage = Storage.open(store)
    rows = [("s", i, "output", "y" * 300) for i in range(2000)]
    storage._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    storage._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    storage._db.close()
    raw = bytearray((store / FILE_NAME).read_bytes())
    raw[8192 : 8192 + 2000] = b"\x07" * 2000
    (store / FILE_NAME).write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["not-a-database", "damaged-page"])
def test_a_corrupted_store_stops_startup_naming_the_file(tmp_path: Path, how: str) -> None:
    store = tmp_path / "store"
    _damage(store, how)
    done = subprocess.run(
        python_module(
            "opencode_sidecar",
            "serve",
            "--workspace",
            str(tmp_path / "ws"),
            "--port",
            "0",
            "--storage-dir",
            str(store),
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert str(store / FILE_NAME) in line and "corrupted" in line
    with pytest.raises(StorageError):
        Storage.open(store)


def test_sigterm_with_a_store_ends_sessions_once_and_a_restart_replays_them(
    tmp_path: Path,
) -> None:
    rules = stream_rules()
    argv = reference_argv(tmp_path / "ws", "--storage-dir", str(tmp_path / "store"))
    with fake_model_server() as model:
        with start_server(argv) as server:
            client = SidecarClient(server.url)
            session_id = str(uuid.uuid4())
            created = client.create_session(
                session_id, "go", model_config("long_running", model.url, KEY)
            )
            assert created.status_code == 201
            events: list[tuple[str | None, str, str]] = []

            def read() -> None:
                with client.open_stream(session_id) as stream:
                    while not stream.ended:  # as they come, so the test sees them too
                        new = client.read_events(stream, limit=1)
                        events.extend((e.id, e.event, e.data) for e in new)

            reader = threading.Thread(target=read)
            reader.start()
            wait_until(
                lambda: any(e[1] == "tool_call" for e in events), 10.0, "the session running"
            )
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(15) == 0
            assert time.monotonic() - started < 10
            reader.join(5)
            client.close()
        numbered = [e for e in events if e[1] not in rules.unnumbered_events]
        last = json.loads(numbered[-1][2])
        assert rules.is_interrupted(numbered[-1][1], last)
        with start_server(argv) as server, SidecarClient(server.url) as client:
            replay = client.collect(session_id)
            assert [(e.id, e.event, e.data) for e in replay.events] == numbered
            assert client.status(session_id).json()["status"] == "failed"
            again = client.create_session(session_id, "go", model_config("quick", model.url, KEY))
            assert again.status_code == status_for("createSession", "duplicate")

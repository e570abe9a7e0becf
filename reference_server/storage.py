"""The durable store: sessions and their events in SQLite (``STORAGE_DIR/sidecar.db``).

One writer thread owns the writes. The event loop hands it sessions and events through a
queue; it commits whatever has queued up in one transaction (a batch every few ms under
load, one event when idle) and only then publishes the batch back on the loop, in order,
so a subscriber never sees an event that a crash could take back. WAL journal with
``synchronous=NORMAL``: a commit survives the death of the process (``kill -9``); an
operating-system crash may lose the last commits, never corrupt the file.

Retention deletes what the sessions store forgets: ``delete_sessions`` queues the ids,
the writer deletes their rows in the next batch (one ``DELETE ... IN`` per table), and a
new file uses ``auto_vacuum=INCREMENTAL`` so freed pages go back to the file system
(:data:`VACUUM_PAGES` per batch); an older file reuses its freed pages instead, so it stops
growing either way.

A failed write (read-only file, full disk) is retried every :data:`RETRY_SECONDS`; until
it succeeds :meth:`Storage.not_ready_reason` says why, so ``/ready`` answers 503 and new
sessions are refused, while every stream keeps the history committed so far.

    storage = Storage.open(directory)        # StorageError: corrupted, unreadable
    stored = storage.load()                  # at startup, before serving
    storage.start(asyncio.get_running_loop())
    storage.add_session(...); storage.commit(event, publish)
    await storage.close(timeout)
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_server.event_log import Event, Publish

log = logging.getLogger("reference_server.storage")

FILE_NAME = "sidecar.db"
RETRY_SECONDS = 0.5
MAX_BATCH = 5000
VACUUM_PAGES = 2000
"""Free pages handed back to the file system after a batch that deleted rows."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    spec TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL
);
"""
# ``events`` is append-only and has no index: every event is written once, in commit order,
# and read back only at startup, all at once (the in-memory logs serve every read). An
# index would cost ~8x per insert.


class StorageError(Exception):
    """The store cannot be used at startup; the message is one line naming the file."""


@dataclass(frozen=True)
class StoredSession:
    """A session as the store holds it: its creation, its spec (no secret), its events."""

    session_id: str
    created_at: str
    spec: Mapping[str, Any]
    events: tuple[Event, ...]


@dataclass(frozen=True)
class _SessionRow:
    session_id: str
    created_at: str
    spec: str


@dataclass(frozen=True)
class _DeleteRows:
    session_ids: tuple[str, ...]


@dataclass(frozen=True)
class _EventRow:
    session_id: str
    event: Event
    publish: Publish


_Write = _SessionRow | _EventRow | _DeleteRows
_Item = _Write | None
"""``None`` stops the writer."""


class Storage:
    """Sessions and events in one SQLite file, written by one thread in batches."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failure: str | None = None
        """Why the last write failed (``None``: the store is writable)."""

    @classmethod
    def open(cls, directory: Path) -> Storage:
        """Open (or create) ``directory/sidecar.db``; a corrupted or unreadable file raises
        :class:`StorageError` (never a silent fresh start)."""
        path = directory / FILE_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the store {path}: {exc}") from None
        try:
            if not db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # a new file: before any table
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            [verdict] = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(str(verdict))
            db.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:  # read-only, locked, no space...
            db.close()
            raise StorageError(f"cannot open the store {path}: {exc}") from None
        except sqlite3.Error as exc:  # not a database, or a failed integrity check
            db.close()
            detail = "; ".join(str(exc).splitlines()[:2])
            raise StorageError(
                f"the store {path} is corrupted ({detail}); restore it or move it away to "
                "start empty"
            ) from None
        return cls(path, db)

    # ------------------------------------------------------------------ startup
    def load(self) -> list[StoredSession]:
        """Every stored session with its events, in creation order (call before start)."""
        events: dict[str, list[Event]] = {}
        rows = self._db.execute("SELECT session_id, id, event, data FROM events ORDER BY rowid")
        for session_id, event_id, event, data in rows:
            events.setdefault(session_id, []).append(Event.build(event_id, event, json.loads(data)))
        return [
            StoredSession(
                session_id, created_at, json.loads(spec), tuple(events.get(session_id, ()))
            )
            for session_id, created_at, spec in self._db.execute(
                "SELECT session_id, created_at, spec FROM sessions ORDER BY created_at"
            )
        ]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer thread; committed batches are published on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._write_loop, name="storage", daemon=True)
        self._thread.start()

    async def close(self, timeout: float) -> None:
        """Commit what is queued (for at most ``timeout`` s), stop the writer, close."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
            if thread.is_alive():
                log.error("the store did not commit everything before shutdown")
                return
        self._db.close()

    # ------------------------------------------------------------------ writes
    def add_session(self, session_id: str, created_at: str, spec: Mapping[str, Any]) -> None:
        """Queue a session's creation (committed before any of its events)."""
        self._queue.put(_SessionRow(session_id, created_at, json.dumps(spec)))

    def committer(self, session_id: str) -> SessionCommitter:
        return SessionCommitter(self, session_id)

    def commit(self, session_id: str, event: Event, publish: Publish) -> None:
        """Queue an event; ``publish(event)`` runs on the loop once it is committed."""
        self._queue.put(_EventRow(session_id, event, publish))

    def delete_sessions(self, session_ids: list[str]) -> None:
        """Queue the deletion of sessions past retention (their row and their events)."""
        self._queue.put(_DeleteRows(tuple(session_ids)))

    def not_ready_reason(self) -> str | None:
        if self.failure is not None:
            return f"storage unavailable: {self.failure}"
        return None

    # ------------------------------------------------------------------ the writer thread
    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Write] = []
            item = self._queue.get()
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            while batch and not self._write(batch):
                if stopping:
                    log.error("the store is failing; %d writes are lost at shutdown", len(batch))
                    batch = []
                    break
                time.sleep(RETRY_SECONDS)
            if batch:
                self._published(batch)

    def _write(self, batch: list[_Write]) -> bool:
        deleted = False
        try:
            self._db.execute("BEGIN")
            for segment, retired in _segments(batch):
                sessions = [
                    (r.session_id, r.created_at, r.spec)
                    for r in segment
                    if isinstance(r, _SessionRow)
                ]
                events = [
                    (r.session_id, r.event.id, r.event.event, r.event.payload)
                    for r in segment
                    if isinstance(r, _EventRow)
                ]
                if sessions:
                    self._db.executemany("INSERT INTO sessions VALUES (?, ?, ?)", sessions)
                if events:
                    self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", events)
                if retired:
                    self._delete([(i,) for i in retired])
                    deleted = True
            self._db.execute("COMMIT")
            if deleted:
                self._db.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if self.failure is None:
                log.error("storage write failed: %s", exc, extra={"path": str(self.path)})
            self.failure = str(exc)
            return False
        if self.failure is not None:
            log.warning("storage writable again", extra={"path": str(self.path)})
            self.failure = None
        return True

    def _delete(self, session_ids: list[tuple[str]]) -> None:
        """Delete sessions and their events: the ids go into a temporary table so that
        ``events`` (no index, see :data:`SCHEMA`) is scanned once per batch."""
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS retired (session_id TEXT PRIMARY KEY)")
        self._db.executemany("INSERT OR IGNORE INTO retired VALUES (?)", session_ids)
        self._db.execute("DELETE FROM events WHERE session_id IN (SELECT session_id FROM retired)")
        self._db.execute(
            "DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM retired)"
        )
        self._db.execute("DELETE FROM retired")

    def _published(self, batch: list[_Write]) -> None:
        rows = [r for r in batch if isinstance(r, _EventRow)]
        if rows and self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(_publish_all, rows)
            except RuntimeError:  # the loop closed meanwhile
                return


def _segments(batch: list[_Write]) -> list[tuple[list[_Write], list[str]]]:
    """The batch cut after each deletion, so rows are written and deleted in queue order
    (a session retired, then an id reused, within one batch)."""
    segments: list[tuple[list[_Write], list[str]]] = []
    current: list[_Write] = []
    retired: list[str] = []
    for item in batch:
        if isinstance(item, _DeleteRows):
            retired.extend(item.session_ids)
            continue
        if retired:
            segments.append((current, retired))
            current, retired = [], []
        current.append(item)
    segments.append((current, retired))
    return segments


def _publish_all(rows: list[_EventRow]) -> None:
    """Publish a committed batch: each log's events in one call, in order."""
    by_log: dict[Publish, list[Event]] = {}
    for row in rows:
        by_log.setdefault(row.publish, []).append(row.event)
    for publish, events in by_log.items():
        publish(events)


class SessionCommitter:
    """The :class:`~reference_server.event_log.Committer` of one session's log."""

    def __init__(self, storage: Storage, session_id: str) -> None:
        self._storage = storage
        self._session_id = session_id

    def commit(self, event: Event, publish: Publish) -> None:
        self._storage.commit(self._session_id, event, publish)

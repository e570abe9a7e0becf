"""The retention watch: one finished session, read at the moments the retention clauses
name (STREAM_RULES.md#retention), in a thread of its own, so that waiting out a target's
SESSION_RETENTION overlaps every other suite instead of following them.

The session is started and run to its end before the first test of the run (so it holds a
slot of MAX_CONCURRENT_SESSIONS for well under a second); the thread then only reads: the
status and a replay at ``READ_AT`` of the retention, and every route naming the session
once it must be gone. The retention tests judge what it saw. A read at ``READ_AT`` that
finds the session gone is not judged: other suites may have finished more than
MAX_RETAINED_SESSIONS sessions meanwhile, which evicts it legitimately; the test then
watches a new session while nothing else runs (:meth:`RetentionWatch.again`).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from contract import load_profiles, retention_rules, status_for, stream_rules
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.recording import Recording, record
from suites.plugin.target import TargetOptions

SCENARIO = "quick"
MAX_TESTED_RETENTION = 60.0
"""Longer retentions are not waited for (declare a shorter one on a test instance)."""
READ_AT = 0.7
"""RETENTION-READABLE reads the session at this fraction of its retention."""
ENDED = stream_rules().ended_statuses
FOUND = status_for("getSessionStatus", "status")
EXPIRED_ROUTES = ("getSessionStatus", "streamSession", "cancelSession")
WEBSOCKET_ROUTE = "websocketSession"
"""Read past retention too when the target claims the profile that serves it."""
FINISH_WAIT = 30.0
"""Seconds the watched session may take to finish."""


@dataclass
class RetentionWatch:
    """What a watched finished session answered, and when it was read."""

    target: TargetOptions
    endpoint: str
    api_key: str
    max_silence: float
    absent: str | None = None
    """Why retention cannot be checked on this target (then nothing is watched)."""
    unfinished: str | None = None
    """Why the watched session did not finish (a precondition of the retention clauses)."""
    session_id: str = ""
    seen_at: float = 0.0
    events: int = 0
    status: httpx.Response | None = None
    replay: Recording | None = None
    expired: dict[str, httpx.Response] = field(default_factory=dict)
    alone: bool = False
    """Watched while nothing else ran: what it saw is judged, whatever it saw."""
    fallback: RetentionWatch | None = None
    """The watch judged instead, when this one (not alone) found its session gone early."""
    failure: BaseException | None = None
    """An exception of the watching thread (the target became unreachable), re-raised."""
    _read: threading.Event = field(default_factory=threading.Event)
    _gone: threading.Event = field(default_factory=threading.Event)

    @property
    def retention(self) -> float:
        return self.target.session_retention or 0.0

    def start(self) -> RetentionWatch:
        """Finish a session now, then read it in the background; returns ``self``."""
        retention = self.target.session_retention
        if retention is None:
            self.absent = "the target's SESSION_RETENTION was not declared"
        elif retention > MAX_TESTED_RETENTION:
            self.absent = (
                f"SESSION_RETENTION {retention:g} s is too long to wait for (at most "
                f"{MAX_TESTED_RETENTION:g} s): verify a test instance with a shorter one"
            )
        if self.absent is not None:
            self._read.set()
            self._gone.set()
            return self
        self._finish()
        if self.unfinished is not None:
            self._read.set()
            self._gone.set()
            return self
        threading.Thread(target=self._watch, name="retention-watch", daemon=True).start()
        return self

    def again(self) -> RetentionWatch:
        """A new watch of a new session, run to its end in this thread."""
        watch = RetentionWatch(
            self.target, self.endpoint, self.api_key, self.max_silence, alone=True
        )
        watch.start()
        watch.wait_read()
        watch.wait_gone()
        return watch

    def wait_read(self) -> None:
        self._wait(self._read)

    def wait_gone(self) -> None:
        self._wait(self._gone)

    def _wait(self, event: threading.Event) -> None:
        event.wait(retention_rules().gone_by(self.retention) + FINISH_WAIT)
        if self.failure is not None:
            raise self.failure

    @property
    def expired_routes(self) -> tuple[str, ...]:
        """Every route naming the session that the target serves (RETENTION-EXPIRES)."""
        websocket = load_profiles().of_operation(WEBSOCKET_ROUTE)
        return EXPIRED_ROUTES + ((WEBSOCKET_ROUTE,) if self.target.claims(websocket) else ())

    @property
    def read_at(self) -> float:
        return READ_AT * self.retention

    @property
    def maybe_evicted(self) -> bool:
        """The read at ``READ_AT`` found the session gone while other suites ran (which may
        have finished more than MAX_RETAINED_SESSIONS sessions meanwhile): not judged."""
        return not self.alone and self.status is not None and self.status.status_code != FOUND

    def _client(self) -> SidecarClient:
        return SidecarClient(self.target.url, self.target.secret)

    def _finish(self) -> None:
        self.session_id = str(uuid.uuid4())
        with self._client() as client:
            body = model_config(SCENARIO, self.endpoint, self.api_key)
            created = client.create_session(self.session_id, "Play scenario quick.", body)
            if not created.is_success:
                self.unfinished = f"POST /sessions answered {created.status_code}"
                return
            status = client.wait_for_status(self.session_id, ENDED, FINISH_WAIT)
        self.seen_at = time.monotonic()
        if status.get("status") not in ENDED:
            self.unfinished = f"the {SCENARIO} session did not finish: {status}"
            return
        events = status.get("last_event_id")
        self.events = int(events) if isinstance(events, int) else 0

    def _watch(self) -> None:
        try:
            with self._client() as client:
                _sleep_until(self.seen_at + self.read_at)
                self.status = client.status(self.session_id)
                self.replay = record(client, self.session_id, max_silence=self.max_silence)
                self._read.set()
                _sleep_until(self.seen_at + retention_rules().gone_by(self.retention))
                path = {"session_id": self.session_id}
                for operation_id in self.expired_routes:
                    self.expired[operation_id] = client.call(operation_id, path=path)
        except BaseException as exc:  # re-raised in the test that waits
            self.failure = exc
        finally:
            self._read.set()
            self._gone.set()


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))

"""Churn: short sessions run to their end, a few at a time within the target's
MAX_CONCURRENT_SESSIONS (a create that meets the limit is retried), for the checks that
need many finished sessions (retention's cap, the churn soak)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from contract import soak_rules, status_for, stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient
from suites.plugin.fixtures import SessionFactory
from suites.plugin.target import TargetOptions

CHURN_WAIT = 30.0
"""Seconds one churned session may take to finish."""


class Churn:
    """Runs short sessions to their end, a few at a time, within the target's limit."""

    def __init__(
        self,
        sidecar: SidecarClient,
        sessions: SessionFactory,
        target: TargetOptions,
        concurrency: int,
        scenario: str | None = None,
    ) -> None:
        self.sidecar = sidecar
        self.sessions = sessions
        self.workers = max(1, min(concurrency, target.max_sessions or 1))
        self.scenario = scenario or soak_rules().churn_scenario
        self.completed = 0
        self.last: str | None = None
        """The session that finished last."""
        self.finished: list[str] = []
        """Every session run to its end, in the order they finished."""

    def one(self) -> str:
        """Run one session to its end; returns its id."""
        limit = status_for("createSession", "limit_reached")
        deadline = time.monotonic() + CHURN_WAIT
        while True:
            session_id = str(uuid.uuid4())
            body = self.sessions.config(self.scenario)
            response = self.sidecar.create_session(session_id, "Churn.", body)
            if response.status_code != limit or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not response.is_success:
            precondition_failed("CREATE-201", f"POST /sessions answered {response.status_code}")
        self.sidecar.wait_for_status(session_id, stream_rules().ended_statuses, CHURN_WAIT)
        self.completed += 1
        self.last = session_id
        self.finished.append(session_id)
        return session_id

    def run(self, count: int | None = None, seconds: float | None = None) -> int:
        """Complete ``count`` sessions (or as many as ``seconds`` allow); returns how many."""
        before = self.completed
        deadline = time.monotonic() + (seconds or 0.0)

        def worker(index: int) -> None:
            n = index
            while (count is not None and n < count) or (
                seconds is not None and time.monotonic() < deadline
            ):
                self.one()
                n += self.workers

        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(worker, range(self.workers)))
        return self.completed - before

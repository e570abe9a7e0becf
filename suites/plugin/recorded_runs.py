"""The recorded runs: the finished and stalled sessions the checks share, each read from its
start to its end, read together when the first is needed (as many at once as a declared
MAX_SESSIONS leaves room for), and ``retained_run`` for a check going back to one. Moved
out of :mod:`suites.plugin.fixtures`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from contract import status_for
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, record
from suites.clientkit.ws import record_ws
from suites.plugin.fixtures import HELLO_WRITE, MODEL_500, MODEL_STALL, SessionFactory
from suites.plugin.head_starts import used_fixtures
from suites.plugin.target import TargetOptions


@dataclass(frozen=True)
class RecordedRun:
    """One finished session read twice: live from its start, and replayed afterwards."""

    session_id: str
    live: Recording
    replay: Recording
    status: dict[str, Any]


@dataclass(frozen=True)
class WebSocketRun:
    """One finished session read live over the WebSocket (``resume_after`` 0 at once, so
    the read starts while the session runs) and over SSE at once, then replayed over the
    WebSocket with no resume message."""

    session_id: str
    live: Recording
    sse: Recording
    replay: Recording


@dataclass(frozen=True)
class RunReader:
    """Starts the sessions the checks share and reads each from its start to its end; each
    method of a name in ``RECORDED_RUNS`` is one recorded run."""

    client: SidecarClient
    endpoint: str
    api_key: str
    max_silence: float
    heartbeat_interval: float

    def hello_run(self) -> RecordedRun:
        return self._recorded(HELLO_WRITE)

    def failed_run(self) -> RecordedRun:
        return self._recorded(MODEL_500)

    def stalled_run(self) -> Recording:
        return self._stalled(record)

    def stalled_ws_run(self) -> Recording:
        return self._stalled(record_ws)

    def ws_run(self) -> WebSocketRun:
        factory = self._factory()
        session_id = factory.start(HELLO_WRITE)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sse-read") as pool:
            sse = pool.submit(record, self.client, session_id, max_silence=self.max_silence)
            live = record_ws(self.client, session_id, 0, max_silence=self.max_silence)
        replay = record_ws(self.client, session_id, max_silence=self.max_silence)
        if not live.ended:
            factory.cancel_all()
        return WebSocketRun(session_id, live, sse.result(), replay)

    def _factory(self) -> SessionFactory:
        return SessionFactory(self.client, self.endpoint, self.api_key)

    def _recorded(self, scenario: str) -> RecordedRun:
        """``scenario`` read live, then replayed, then its status."""
        factory = self._factory()
        session_id = factory.start(scenario)
        live = record(self.client, session_id, max_silence=self.max_silence)
        replay = record(self.client, session_id, max_silence=self.max_silence)
        status = self.client.status(session_id)
        body = (
            status.json()
            if status.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if not live.ended:
            factory.cancel_all()
        return RecordedRun(session_id, live, replay, body)

    def _stalled(self, read: Callable[..., Recording]) -> Recording:
        """A session whose model stalls, read with ``read`` (SSE's ``record`` or the
        WebSocket's) for two heartbeat intervals: only heartbeats can keep the read alive.
        Each transport reads its own session, so a transport the target lacks never touches
        another's clauses."""
        factory = self._factory()
        session_id = factory.start(MODEL_STALL)
        window = 2 * self.heartbeat_interval + 0.5
        try:
            return read(self.client, session_id, max_silence=self.max_silence, window=window)
        finally:
            factory.cancel_all()  # free its slot at once (CREATE-LIMIT-503 counts running ones)


RECORDED_RUNS = ("stalled_run", "stalled_ws_run", "failed_run", "ws_run", "hello_run")
"""Session fixtures, each a session read from start to end (a :class:`RunReader` method of
that name): the ones a run uses are read together (``recorded_runs``), in this order when
they take turns. ``hello_run`` last: its finished session is read again by later checks,
and each session started after it brings a retention cap closer to evicting it."""


def recording_room(max_sessions: int | None, held: int, wanted: int) -> int:
    """How many recorded runs to read at once: as many as a declared MAX_SESSIONS leaves
    room for beside the ``held`` sessions of the run's head starts and one a check before
    may still be ending; one at a time when the target's limit is not declared (it may
    be 1)."""
    if max_sessions is None:
        return 1
    return max(1, min(wanted, max_sessions - held - 1))


@pytest.fixture(scope="session")
def run_reader(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
    target: TargetOptions,
) -> RunReader:
    return RunReader(sidecar, model_endpoint, api_key, max_silence, target.heartbeat_interval)


@pytest.fixture(scope="session")
def recorded_runs(
    request: pytest.FixtureRequest,
    run_reader: RunReader,
    target: TargetOptions,
    held_from_start: dict[str, int],
) -> dict[str, Future[Any]]:
    """Every recorded run the selected checks use, read at once when the first of them is
    asked for (as many at a time as :func:`recording_room` allows), and all of them finished
    before this returns: nothing keeps a session running behind the checks that follow.
    Each run keeps its own outcome: one transport's failure is no other run's."""
    wanted = [name for name in RECORDED_RUNS if name in used_fixtures(request.session)]
    room = recording_room(target.max_sessions, sum(held_from_start.values()), len(wanted))
    with ThreadPoolExecutor(max_workers=room, thread_name_prefix="recorded-run") as pool:
        return {name: pool.submit(getattr(run_reader, name)) for name in wanted}


@pytest.fixture(scope="session")
def hello_run(recorded_runs: dict[str, Future[RecordedRun]]) -> RecordedRun:
    """``hello_write`` (a write tool call, then an answer), recorded live and replayed."""
    return recorded_runs["hello_run"].result()


@pytest.fixture(scope="session")
def failed_run(recorded_runs: dict[str, Future[RecordedRun]]) -> RecordedRun:
    """``model_500``: the model answers HTTP 500, so the session must fail."""
    return recorded_runs["failed_run"].result()


@pytest.fixture(scope="session")
def stalled_run(recorded_runs: dict[str, Future[Recording]]) -> Recording:
    """A stalled session read over SSE."""
    return recorded_runs["stalled_run"].result()


@pytest.fixture(scope="session")
def stalled_ws_run(recorded_runs: dict[str, Future[Recording]]) -> Recording:
    """A stalled session read over the WebSocket."""
    return recorded_runs["stalled_ws_run"].result()


@pytest.fixture(scope="session")
def ws_run(recorded_runs: dict[str, Future[WebSocketRun]]) -> WebSocketRun:
    """``hello_write`` over both transports."""
    return recorded_runs["ws_run"].result()


@pytest.fixture
def retained_run(
    hello_run: RecordedRun, sidecar: SidecarClient, run_reader: RunReader
) -> RecordedRun:
    """``hello_run`` while the target still holds its finished session, else ``hello_write``
    read anew: each session started since brings a retention cap (MAX_RETAINED_SESSIONS)
    closer to evicting it, honestly. For the checks that go back to that session."""
    evicted = status_for("getSessionStatus", "not_found")
    if sidecar.status(hello_run.session_id).status_code != evicted:
        return hello_run
    return run_reader.hello_run()

"""Fixtures every suite shares: the target and run settings, clients, the fake model,
sessions, and recorded stream reads."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pytest

from contract import status_for, stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import fake_model_server
from suites.clientkit.recording import Recording, record
from suites.clientkit.ws import record_ws
from suites.plugin.retention_watch import RetentionWatch
from suites.plugin.state import run_options, target_or_skip
from suites.plugin.target import RunOptions, TargetOptions

T = TypeVar("T")

# Scenario ids of the fake model server (fakes/scenarios/*.yaml).
QUICK = "quick"
HELLO_WRITE = "hello_write"
LONG_RUNNING = "long_running"
BURST = "burst"
MODEL_500 = "model_500"
MODEL_STALL = "model_stall"


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> TargetOptions:
    return target_or_skip(request.config)


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> RunOptions:
    """How this run judges the target (strict, clause selection, fuzz and soak bounds)."""
    return run_options(request.config)


@pytest.fixture(scope="session")
def sidecar(target: TargetOptions) -> Iterator[SidecarClient]:
    """A client with the target's secret; setup errors (unreachable target) are errors."""
    with SidecarClient(target.url, target.secret) as client:
        client.liveness()  # raises httpx.ConnectError when the target is unreachable
        yield client


@pytest.fixture(scope="session")
def anonymous(target: TargetOptions) -> Iterator[SidecarClient]:
    """A client without credentials."""
    with SidecarClient(target.url, redact=target.secret) as client:
        yield client


@pytest.fixture(scope="session")
def model_endpoint(target: TargetOptions) -> Iterator[str]:
    if target.model_endpoint:
        yield target.model_endpoint
        return
    with fake_model_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def api_key() -> str:
    """A unique key per run, so that any echo of it anywhere is unmistakable."""
    return f"sk-verify-{secrets.token_hex(16)}"


@dataclass(frozen=True)
class HeadStart:
    """A session fixture set up before the first test of a run that uses it anywhere, when
    the target has room for it: what it waits for runs alongside every other check."""

    sessions: int
    """Sessions it holds while the checks run."""
    undeclared: bool
    """Whether it starts early when the target's MAX_SESSIONS is not declared too (else only
    when a declared one leaves it room)."""
    always: bool = False
    """Started early whatever the limit (it waits for nothing else to end)."""


HEAD_STARTS = {
    "retention_watch": HeadStart(1, undeclared=True, always=True),
    "timeout_run": HeadStart(1, undeclared=True),
    "slow_runs": HeadStart(2, undeclared=False),  # the agent suite's (suites/agent/_fixtures.py)
}
"""The head starts, in the order they are given room."""

CHECKS_AT_ONCE = 2
"""The most sessions the checks themselves run at once (the agent suite's ``tools_pair``)."""

JUDGED_LAST = frozenset({"timeout_run", "slow_runs"})
"""Head starts whose checks run last in their suite (``pytest_collection_modifyitems``); not
the retention watch, whose suite's RETENTION-CAP must come after its reads."""


def early_starts(used: set[str], max_sessions: int | None) -> dict[str, int]:
    """The head starts a run starts early (of those its checks ``used``), and the sessions
    each holds: in ``HEAD_STARTS`` order, while MAX_SESSIONS leaves room for them beside
    ``CHECKS_AT_ONCE`` of the checks' own."""
    early: dict[str, int] = {}
    for name, start in HEAD_STARTS.items():
        if name not in used:
            continue
        if max_sessions is None:
            fits = start.undeclared
        else:
            fits = sum(early.values()) + start.sessions + CHECKS_AT_ONCE <= max_sessions
        if fits or start.always:
            early[name] = start.sessions
    return early


def _used_fixtures(session: pytest.Session) -> set[str]:
    return {name for item in session.items for name in getattr(item, "fixturenames", ())}


@pytest.fixture(scope="session")
def held_from_start(request: pytest.FixtureRequest, target: TargetOptions) -> dict[str, int]:
    """The head starts this run starts early, and the sessions each holds meanwhile."""
    return early_starts(_used_fixtures(request.session), target.max_sessions)


@pytest.hookimpl(trylast=True)  # after the plugin's clause selection
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The checks that judge a head start of ``JUDGED_LAST`` run last in their suite (the
    suites keep their order): what they wait for has had the rest of the suite to happen."""
    suites: dict[str, int] = {}
    for item in items:
        suites.setdefault(_suite_of(item), len(suites))

    def key(item: pytest.Item) -> tuple[int, bool]:
        waits = bool(JUDGED_LAST & set(getattr(item, "fixturenames", ())))
        return suites[_suite_of(item)], waits

    items[:] = sorted(items, key=key)


def _suite_of(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rsplit(".", 1)[0] if module is not None else ""


@pytest.fixture(scope="session", autouse=True)
def head_start(request: pytest.FixtureRequest) -> None:
    try:
        early = request.getfixturevalue("held_from_start")
    except (Exception, pytest.skip.Exception):
        return  # no target: reported by every test
    for name in early:
        try:
            request.getfixturevalue(name)
        except (Exception, pytest.skip.Exception):  # noqa: S112
            continue  # reported by the tests that use it, not by the first test of the run


@pytest.fixture(scope="session")
def retention_watch(
    request: pytest.FixtureRequest,
    target: TargetOptions,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
) -> RetentionWatch:
    """A finished session read in the background at the moments the retention clauses name
    (alone: no test of another module runs meanwhile, so nothing else can evict it)."""
    items = request.session.items
    users = {item.path for item in items if "retention_watch" in getattr(item, "fixturenames", ())}
    alone = all(item.path in users for item in items)
    return RetentionWatch(target, model_endpoint, api_key, max_silence, alone=alone).start()


@dataclass(frozen=True)
class TimedOutRun:
    """A session whose model stalls, waited on until SESSION_TIMEOUT should have ended it
    (``window``), its status then, and its history read at once (before a short retention
    can drop it); ``recording`` is ``None`` when it had not failed (it is then cancelled)."""

    session_id: str
    window: float
    status: dict[str, Any]
    recording: Recording | None


def _timed_out_run(
    client: SidecarClient, endpoint: str, api_key: str, session_timeout: float, max_silence: float
) -> TimedOutRun:
    rules = stream_rules()
    factory = SessionFactory(client, endpoint, api_key)
    session_id = factory.start(MODEL_STALL)
    window = session_timeout * 1.5 + 2
    status = client.wait_for_status(session_id, rules.ended_statuses, window)
    if status.get("status") != rules.fatal_status:
        factory.cancel_all()  # free its slot
        return TimedOutRun(session_id, window, status, None)
    return TimedOutRun(
        session_id, window, status, record(client, session_id, max_silence=max_silence)
    )


@pytest.fixture(scope="session")
def timeout_run(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    target: TargetOptions,
    max_silence: float,
    held_from_start: dict[str, int],
) -> Callable[[], TimedOutRun] | None:
    """SESSION-TIMEOUT's session, as the call that waits for it (``None``: no
    SESSION_TIMEOUT declared): a head start (:func:`begun`)."""
    if target.session_timeout is None:
        return None
    work = partial(
        _timed_out_run, sidecar, model_endpoint, api_key, target.session_timeout, max_silence
    )
    return begun(work, "timeout_run" in held_from_start)


def begun(work: Callable[[], T], early: bool) -> Callable[[], T]:
    """``work`` as the call that waits for it: run in a thread from now on when ``early``
    (its wait then overlaps the other checks), else when the check calls it."""
    if not early:
        return work
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-start")
    started = pool.submit(work)
    pool.shutdown(wait=False)  # its thread runs the work on; result() waits and re-raises
    return started.result


@pytest.fixture(scope="session")
def max_silence(target: TargetOptions) -> float:
    """The longest a stream may stay silent (heartbeat interval with tolerance)."""
    return stream_rules().max_heartbeat_silence(target.heartbeat_interval)


@dataclass
class SessionFactory:
    """Starts sessions on the target and cancels the ones left running."""

    client: SidecarClient
    endpoint: str
    api_key: str
    started: list[str] = field(default_factory=list)

    def config(self, scenario: str, **extra: Any) -> dict[str, Any]:
        return model_config(scenario, self.endpoint, self.api_key, **extra)

    def start(self, scenario: str, prompt: str | None = None, **extra: Any) -> str:
        """Start a session playing ``scenario``; skip the test if the target refuses."""
        session_id = str(uuid.uuid4())
        response = self.client.create_session(
            session_id, prompt or f"Play scenario {scenario}.", self.config(scenario, **extra)
        )
        self.started.append(session_id)
        if not response.is_success:
            precondition_failed(
                "CREATE-201",
                f"POST /sessions answered {response.status_code}: {response.text[:200]}",
            )
        return session_id

    def cancel_all(self) -> None:
        for session_id in self.started:
            try:
                self.client.cancel(session_id)
            except Exception:  # noqa: S112 (best effort cleanup)
                continue


@pytest.fixture
def sessions(sidecar: SidecarClient, model_endpoint: str, api_key: str) -> Iterator[SessionFactory]:
    factory = SessionFactory(sidecar, model_endpoint, api_key)
    yield factory
    factory.cancel_all()


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
    wanted = [name for name in RECORDED_RUNS if name in _used_fixtures(request.session)]
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

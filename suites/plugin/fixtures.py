"""Fixtures every suite shares: the target and run settings, clients, the fake model,
sessions, and recorded stream reads."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from contract import stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import fake_model_server
from suites.clientkit.recording import Recording, record
from suites.clientkit.ws import record_ws
from suites.plugin.retention_watch import RetentionWatch
from suites.plugin.state import run_options, target_or_skip
from suites.plugin.target import RunOptions, TargetOptions

# Scenario ids of the fake model server (fakes/scenarios/*.yaml).
QUICK = "quick"
HELLO_WRITE = "hello_write"
LONG_RUNNING = "long_running"
CHATTY = "chatty"
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


HEAD_STARTS = ("retention_watch",)
"""Session fixtures set up before the first test of a run that uses them anywhere: what they
wait for runs alongside every other suite."""


@pytest.fixture(scope="session", autouse=True)
def head_start(request: pytest.FixtureRequest) -> None:
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    for name in HEAD_STARTS:
        if name in used:
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


def _recorded_run(
    client: SidecarClient, endpoint: str, api_key: str, scenario: str, max_silence: float
) -> RecordedRun:
    factory = SessionFactory(client, endpoint, api_key)
    session_id = factory.start(scenario)
    live = record(client, session_id, max_silence=max_silence)
    replay = record(client, session_id, max_silence=max_silence)
    status = client.status(session_id)
    body = (
        status.json()
        if status.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if not live.ended:
        factory.cancel_all()
    return RecordedRun(session_id, live, replay, body)


@pytest.fixture(scope="session")
def hello_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> RecordedRun:
    """``hello_write`` (a write tool call, then an answer), recorded live and replayed."""
    return _recorded_run(sidecar, model_endpoint, api_key, HELLO_WRITE, max_silence)


@pytest.fixture(scope="session")
def failed_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> RecordedRun:
    """``model_500``: the model answers HTTP 500, so the session must fail."""
    return _recorded_run(sidecar, model_endpoint, api_key, MODEL_500, max_silence)


def _stalled_read(
    read: Callable[[str, float], Recording],
    client: SidecarClient,
    endpoint: str,
    api_key: str,
    heartbeat_interval: float,
) -> Recording:
    """A session whose model stalls, read for two heartbeat intervals with ``read``: only
    heartbeats can keep the read alive. Each transport reads its own session, so a
    transport the target lacks never touches another's clauses."""
    factory = SessionFactory(client, endpoint, api_key)
    session_id = factory.start(MODEL_STALL)
    try:
        return read(session_id, 2 * heartbeat_interval + 0.5)
    finally:
        factory.cancel_all()  # free its slot at once (CREATE-LIMIT-503 counts running sessions)


@pytest.fixture(scope="session")
def stalled_run(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    target: TargetOptions,
    max_silence: float,
) -> Recording:
    """A stalled session read over SSE."""

    def read(session_id: str, window: float) -> Recording:
        return record(sidecar, session_id, max_silence=max_silence, window=window)

    return _stalled_read(read, sidecar, model_endpoint, api_key, target.heartbeat_interval)


@pytest.fixture(scope="session")
def stalled_ws_run(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    target: TargetOptions,
    max_silence: float,
) -> Recording:
    """A stalled session read over the WebSocket."""

    def read(session_id: str, window: float) -> Recording:
        return record_ws(sidecar, session_id, max_silence=max_silence, window=window)

    return _stalled_read(read, sidecar, model_endpoint, api_key, target.heartbeat_interval)


@dataclass(frozen=True)
class WebSocketRun:
    """One finished session read live over the WebSocket (``resume_after`` 0 at once, so
    the read starts while the session runs) and over SSE at once, then replayed over the
    WebSocket with no resume message."""

    session_id: str
    live: Recording
    sse: Recording
    replay: Recording


@pytest.fixture(scope="session")
def ws_run(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> WebSocketRun:
    """``hello_write`` over both transports."""
    factory = SessionFactory(sidecar, model_endpoint, api_key)
    session_id = factory.start(HELLO_WRITE)
    found: dict[str, Recording] = {}

    def read_sse() -> None:
        found["sse"] = record(sidecar, session_id, max_silence=max_silence)

    reader = threading.Thread(target=read_sse)
    reader.start()
    try:
        live = record_ws(sidecar, session_id, 0, max_silence=max_silence)
    finally:
        reader.join()
    replay = record_ws(sidecar, session_id, max_silence=max_silence)
    if not live.ended:
        factory.cancel_all()
    return WebSocketRun(session_id, live, found["sse"], replay)

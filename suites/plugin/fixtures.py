"""Fixtures every suite shares: the target and run settings, clients, the fake model,
sessions, and recorded stream reads."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from contract import stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import fake_model_server
from suites.clientkit.recording import Recording, record
from suites.plugin.head_starts import begun
from suites.plugin.retention_watch import RetentionWatch
from suites.plugin.state import run_options, target_or_skip
from suites.plugin.target import RunOptions, TargetOptions

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

"""One crash, observed: sessions started and read live, the restart command, the wait for
the target to come back, and fresh reads of every session afterwards."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from contract import status_for, stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.recording import Recording, data_of, record
from suites.clientkit.sse import SSEEvent
from suites.plugin.target import TargetOptions

FINISHED_SCENARIO = "hello_write"
LIVE_SCENARIO = "long_running"
MAX_LIVE = 5
EVENTS_BEFORE_CRASH = 2
"""Each reader has received at least this many events when the sidecar is killed."""
START_TIMEOUT = 60.0  # a sidecar may start an agent process per session (the reference on OpenCode)
BACK_TIMEOUT = 60.0
RESTART_TIMEOUT = 120.0


@dataclass
class LiveReader:
    """A reader following one session until the crash cuts its stream."""

    session_id: str
    client: SidecarClient
    events: list[SSEEvent] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        unnumbered = stream_rules().unnumbered_events
        try:
            with self.client.open_stream(self.session_id, read_timeout=BACK_TIMEOUT) as stream:
                for chunk in stream.chunks():
                    for event in stream.parser.feed(chunk):
                        if event.event not in unnumbered:
                            self.events.append(event)
        except (httpx.HTTPError, OSError):
            return  # the crash cut the stream: what arrived so far is what counts

    def history(self) -> list[tuple[str | None, str, Any]]:
        return [(e.id, e.event, data_of(e)) for e in self.events]

    def ended(self) -> bool:
        """The terminal event arrived before the crash (the session was not interrupted)."""
        rules = stream_rules()
        return any(
            isinstance(d := data_of(e), dict) and rules.is_terminal(e.event, d) for e in self.events
        )


@dataclass
class Crash:
    """What was seen before the crash, and the reads after the restart."""

    finished_id: str
    finished_before: Recording
    finished_status: dict[str, Any]
    live: list[LiveReader]
    replays: dict[str, Recording]
    """A read of every session from its start, after the restart."""
    window: float
    """How long a read after the restart waits for the terminal event."""


def _create(client: SidecarClient, endpoint: str, api_key: str, scenario: str) -> str:
    """Start a session, waiting while the target's session limit is reached."""
    limit = status_for("createSession", "limit_reached")
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        session_id = str(uuid.uuid4())
        response = client.create_session(
            session_id, f"Play scenario {scenario}.", model_config(scenario, endpoint, api_key)
        )
        if response.is_success:
            return session_id
        if response.status_code != limit or time.monotonic() > deadline:
            precondition_failed(
                "CREATE-201", f"POST /sessions answered {response.status_code}: {response.text}"
            )
        time.sleep(0.2)


def wait_until_back(client: SidecarClient, timeout: float = BACK_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.liveness().status_code == status_for("getLiveness", "alive"):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the target did not come back within {timeout:g} s")
        time.sleep(0.1)


def restart(command: str) -> None:
    """Run the restart command (an error of the command is a suite error, never a fail)."""
    done = subprocess.run(  # noqa: S602 (the user's own shell command)
        command, shell=True, capture_output=True, text=True, timeout=RESTART_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the restart command failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )


def in_parallel(reads: dict[str, Callable[[], Recording]]) -> dict[str, Recording]:
    found: dict[str, Recording] = {}

    def run(key: str, read: Callable[[], Recording]) -> None:
        found[key] = read()

    threads = [threading.Thread(target=run, args=item) for item in reads.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def crash_and_restart(
    target: TargetOptions,
    client: SidecarClient,
    endpoint: str,
    api_key: str,
    max_silence: float,
) -> Crash:
    assert target.restart_cmd is not None
    window = max(3.0, 2 * max_silence)
    finished_id = _create(client, endpoint, api_key, FINISHED_SCENARIO)
    finished_before = record(client, finished_id, max_silence=max_silence)
    if finished_before.terminal_index() is None:
        precondition_failed("SSE-ONE-TERMINAL", "the finished session's stream did not end")
    finished_status = client.status(finished_id).json()
    count = min(target.max_sessions or 3, MAX_LIVE)
    live = []
    for _ in range(count):
        session_id = _create(client, endpoint, api_key, LIVE_SCENARIO)
        reader = LiveReader(session_id, SidecarClient(target.url, target.secret))
        reader.start()
        live.append(reader)
    deadline = time.monotonic() + START_TIMEOUT
    while any(len(r.events) < EVENTS_BEFORE_CRASH for r in live):
        if time.monotonic() > deadline:
            precondition_failed("SSE-REPLAY", "the live sessions sent too few events")
        time.sleep(0.05)
    restart(target.restart_cmd)
    for reader in live:
        assert reader.thread is not None
        reader.thread.join(BACK_TIMEOUT)
        reader.client.close()
    wait_until_back(client)
    ids = [finished_id, *(r.session_id for r in live)]
    replays = in_parallel(
        {sid: partial(record, client, sid, max_silence=max_silence, window=window) for sid in ids}
    )
    return Crash(finished_id, finished_before, finished_status, live, replays, window)

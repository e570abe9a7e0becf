"""Locust users for a sidecar. Loaded only by Locust itself (``python -m locust -f``), never
imported into pytest or the CLI. Settings come from the environment the runner sets:
SIDECAR_URL (as --host), MODEL_ENDPOINT, LOAD_PROFILE, LOAD_DURATION, LOAD_USERS,
SIDECAR_SECRET (optional). A profile with ``websocket: true`` reads every session over its
WebSocket (``websocket-client``, which gevent's monkey-patched sockets make cooperative)."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime
from typing import Any

import websocket
from locust import HttpUser, LoadTestShape, between, events, task

from contract import operation, stream_rules
from loadtests.locust_settings import LocustSettings
from loadtests.profiles import load_profiles
from suites.clientkit.client import model_config, session_body
from suites.clientkit.sse import SSEParser

SETTINGS = LocustSettings.from_env(os.environ)
"""Read once, here at the Locust process's edge (this file is what Locust loads)."""
PROFILE = load_profiles()[SETTINGS.profile]
MODEL_ENDPOINT = SETTINGS.model_endpoint
SECRET = SETTINGS.secret
RULES = stream_rules()
CREATE, STATUS, STREAM, SOCKET, CANCEL = (
    operation(i)
    for i in (
        "createSession",
        "getSessionStatus",
        "streamSession",
        "websocketSession",
        "cancelSession",
    )
)
TRANSPORT = "WS" if PROFILE.websocket else "SSE"


def _fire(name: str, started: float, length: int = 0, exc: Exception | None = None) -> None:
    events.request.fire(
        request_type=TRANSPORT,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=length,
        exception=exc,
        context={},
    )


def _lag_ms(data: dict[str, Any]) -> float | None:
    stamp = data.get("timestamp")
    if not isinstance(stamp, str):
        return None
    sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return max(0.0, (time.time() - sent) * 1000)


class SidecarUser(HttpUser):
    """Shared calls; reads SSE line by line from the raw chunked body (no 1 KiB buffering),
    or, when the profile says ``websocket: true``, the session's WebSocket frames."""

    abstract = True
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        if SECRET:
            self.client.headers["Authorization"] = f"Bearer {SECRET}"

    def create(self, scenario: str | None = None) -> str | None:
        session_id = str(uuid.uuid4())
        body = session_body(
            session_id, "load test", model_config(scenario or PROFILE.scenario, MODEL_ENDPOINT)
        )
        with self.client.post(
            CREATE.path, json=body, name="POST /sessions", catch_response=True
        ) as response:
            if response.status_code == CREATE.status_for("limit_reached"):
                response.success()  # the documented limit: back off, not an error
                return None
            if response.status_code != CREATE.status_for("created"):
                response.failure(f"HTTP {response.status_code}")
                return None
        return session_id

    def stream(
        self, session_id: str, last_id: str | None = None, stop_after: int | None = None
    ) -> tuple[str | None, bool]:
        """Read events over the profile's transport; returns (last id seen, reached the
        terminal event)."""
        if PROFILE.websocket:
            return self.stream_ws(session_id, last_id, stop_after)
        return self.stream_sse(session_id, last_id, stop_after)

    def _event_read(self, started: float, seen: int, data: dict[str, Any], size: int) -> None:
        if seen == 1:
            _fire("first event", started)
        lag = _lag_ms(data)
        if lag is not None:
            events.request.fire(
                request_type=TRANSPORT,
                name="event lag",
                response_time=lag,
                response_length=size,
                exception=None,
                context={},
            )

    def stream_ws(
        self, session_id: str, last_id: str | None = None, stop_after: int | None = None
    ) -> tuple[str | None, bool]:
        """Read frames from the session's WebSocket (resuming with ``resume_after``)."""
        ws_rules = RULES.websocket
        url = "ws" + (self.host or "").rstrip("/").removeprefix("http")
        url += SOCKET.url_path(session_id=session_id)
        header = [f"Authorization: Bearer {SECRET}"] if SECRET else []
        started = time.perf_counter()
        try:
            conn = websocket.create_connection(url, header=header, timeout=60)
        except Exception as exc:
            _fire("connect", started, exc=exc)
            return last_id, True
        seen = 0
        last = last_id
        try:
            conn.send(json.dumps(ws_rules.resume_message(int(last_id or 0))))
            _fire("connect", started)
            while True:
                try:
                    text = conn.recv()
                except websocket.WebSocketConnectionClosedException:
                    return last, True  # closed after the terminal (or resume past it)
                if not text:
                    return last, True
                frame = json.loads(text)
                kind = frame[ws_rules.event_field]
                if kind in RULES.unnumbered_events:
                    continue
                seen += 1
                last = str(frame.get(ws_rules.id_field, last))
                data = frame[ws_rules.data_field]
                self._event_read(started, seen, data, len(text))
                if RULES.is_terminal(kind, data):
                    _fire("complete", started, seen)
                    return last, True
                if stop_after is not None and seen >= stop_after:
                    return last, False
        except Exception as exc:
            _fire("stream", started, exc=exc)
            return last, True
        finally:
            conn.close()

    def stream_sse(
        self, session_id: str, last_id: str | None = None, stop_after: int | None = None
    ) -> tuple[str | None, bool]:
        """Read SSE events line by line from the raw chunked body."""
        headers = {RULES.resume_header: last_id} if last_id else {}
        started = time.perf_counter()
        parser = SSEParser()
        seen = 0
        last = last_id
        with self.client.get(
            STREAM.url_path(session_id=session_id),
            headers=headers,
            stream=True,
            name="GET /stream (headers)",
            catch_response=True,
        ) as response:
            if response.status_code == STREAM.status_for("nothing_after"):
                return last, True
            _fire("connect", started)
            for chunk in response.raw.read_chunked(decode_content=False):
                for event in parser.feed(chunk):
                    if event.event in RULES.unnumbered_events:
                        continue
                    seen += 1
                    last = event.id or last
                    data = json.loads(event.data)
                    self._event_read(started, seen, data, len(event.data))
                    if RULES.is_terminal(event.event, data):
                        _fire("complete", started, seen)
                        return last, True
                    if stop_after is not None and seen >= stop_after:
                        response.close()
                        return last, False
        return last, False


class SessionStreamUser(SidecarUser):
    @task
    def session(self) -> None:
        session_id = self.create()
        if session_id is not None:
            self.stream(session_id)


class LongStreamUser(SidecarUser):
    """Many readers of few sessions: every fifth user starts one, the others follow it."""

    shared: list[str] = []  # noqa: RUF012

    @task
    def follow(self) -> None:
        if not self.shared or len(self.shared) * 5 < self.environment.runner.user_count:
            session_id = self.create()
            if session_id:
                self.shared.append(session_id)
        if self.shared:
            self.stream(self.shared[-1])


class ReconnectUser(SidecarUser):
    @task
    def reconnect(self) -> None:
        session_id = self.create()
        if session_id is None:
            return
        last, done = None, False
        while not done:
            last, done = self.stream(session_id, last, stop_after=5)


class CancelUser(SidecarUser):
    @task
    def churn(self) -> None:
        session_id = self.create()
        if session_id is None:
            return
        self.stream(session_id, stop_after=2)
        self.client.delete(CANCEL.url_path(session_id=session_id), name="DELETE /sessions/{id}")


class PollingUser(SidecarUser):
    @task
    def poll(self) -> None:
        session_id = self.create()
        if session_id is None:
            return
        started = time.perf_counter()
        while time.perf_counter() - started < 60:
            response = self.client.get(STATUS.url_path(session_id=session_id), name="GET /status")
            if response.ok and response.json().get("status") in RULES.ended_statuses:
                _fire("complete", started)
                return
            time.sleep(0.2)


class ProfileShape(LoadTestShape):
    """The profile's stages, scaled to LOAD_DURATION and LOAD_USERS."""

    duration = SETTINGS.duration
    max_users = SETTINGS.users

    def tick(self) -> tuple[int, float] | None:
        users = PROFILE.users_at(self.get_run_time(), self.duration, self.max_users)
        return None if users is None else (users, max(1.0, self.max_users / 2))


# Only the profile's user class runs.
for _name in ("SessionStreamUser", "LongStreamUser", "ReconnectUser", "CancelUser", "PollingUser"):
    if _name != PROFILE.user:
        globals()[_name].abstract = True

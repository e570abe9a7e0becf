"""The lifecycle model: what the sidecar must answer to any sequence of calls."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, precondition, rule

from contract import status_for, stream_rules
from suites.checks.verdict import ClauseViolation
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.sse import SSEEvent

QUICK, SLOW = "quick", "long_running"
TERMINAL = stream_rules().ended_statuses
CANCELLED = stream_rules().cancelled_status


@dataclass
class Predicted:
    scenario: str
    status: str = "running"
    """running, or a terminal status once observed."""
    cancelled_at: str | None = None


@dataclass
class World:
    """What the machine is told about the target (set before the run)."""

    client: SidecarClient | None = None
    model_endpoint: str = ""
    max_sessions: int | None = None
    api_key: str = "sk-model-lifecycle"
    created: list[str] = field(default_factory=list)


WORLD = World()


def _expect(ok: bool, title: str, expected: Any, actual: Any) -> None:
    if not ok:
        raise ClauseViolation(title, expected, actual)


class SessionLifecycle(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        assert WORLD.client is not None
        self.client = WORLD.client
        self.model: dict[str, Predicted] = {}

    def _running(self) -> list[str]:
        return [s for s, p in self.model.items() if p.status == "running"]

    def _history(self, session_id: str, after: int | str | None = None) -> list[SSEEvent]:
        stream = self.client.collect(session_id, after, read_timeout=15)
        if stream.response.status_code == status_for("streamSession", "nothing_after"):
            return []
        opened = status_for("streamSession", "stream")
        _expect(
            stream.response.status_code == opened,
            "the stream must open",
            opened,
            stream.response.status_code,
        )
        unnumbered = stream_rules().unnumbered_events
        return [e for e in stream.events if e.event not in unnumbered]

    @rule(target=sessions, scenario=st.sampled_from([QUICK, SLOW]))
    def create(self, scenario: str) -> str:
        session_id = str(uuid.uuid4())
        config = model_config(scenario, WORLD.model_endpoint, WORLD.api_key)
        response = self.client.create_session(session_id, "go", config)
        note(f"POST /sessions {session_id} ({scenario}) -> {response.status_code}")
        created = status_for("createSession", "created")
        limit = status_for("createSession", "limit_reached")
        full = WORLD.max_sessions is not None and len(self._running()) >= WORLD.max_sessions
        allowed = (
            {limit}
            if full and all(self.model[s].scenario == SLOW for s in self._running())
            else {created, limit}
        )
        _expect(
            response.status_code in allowed,
            "create must answer as the model predicts",
            sorted(allowed),
            response.status_code,
        )
        if response.status_code == created:
            self.model[session_id] = Predicted(scenario)
            WORLD.created.append(session_id)
        return session_id

    @rule(session=sessions)
    def create_duplicate(self, session: str) -> None:
        response = self.client.create_session(
            session, "again", model_config(QUICK, WORLD.model_endpoint, WORLD.api_key)
        )
        note(f"POST /sessions {session} again -> {response.status_code}")
        if session in self.model:
            duplicate = status_for("createSession", "duplicate")
            _expect(
                response.status_code == duplicate,
                f"a taken id must answer {duplicate}",
                duplicate,
                response.status_code,
            )

    @rule(session=sessions)
    def status(self, session: str) -> None:
        response = self.client.status(session)
        note(f"GET status {session} -> {response.status_code} {response.text[:80]}")
        predicted = self.model.get(session)
        if predicted is None:
            return
        found = status_for("getSessionStatus", "status")
        _expect(
            response.status_code == found,
            f"status of a session must answer {found}",
            found,
            response.status_code,
        )
        actual = response.json().get("status")
        if predicted.status in TERMINAL:
            _expect(
                actual == predicted.status,
                "a finished session keeps its status",
                predicted.status,
                actual,
            )
        else:
            _expect(
                actual in {"pending", "running"} | TERMINAL,
                "status must be a state",
                "a session state",
                actual,
            )
            if actual in TERMINAL and actual != CANCELLED:
                predicted.status = actual

    @rule(session=sessions)
    def cancel(self, session: str) -> None:
        response = self.client.cancel(session)
        note(f"DELETE {session} -> {response.status_code} {response.text[:80]}")
        predicted = self.model.get(session)
        if predicted is None:
            return
        cancelled = status_for("cancelSession", "cancelled")
        finished = status_for("cancelSession", "already_finished")
        if predicted.status == CANCELLED:
            _expect(
                response.status_code == cancelled,
                "a second DELETE must answer 200",
                cancelled,
                response.status_code,
            )
            _expect(
                response.json().get("cancelled_at") == predicted.cancelled_at,
                "a second DELETE keeps cancelled_at",
                predicted.cancelled_at,
                response.json().get("cancelled_at"),
            )
        elif predicted.status in TERMINAL - {CANCELLED}:
            _expect(
                response.status_code == finished,
                "DELETE of a finished session is 409",
                finished,
                response.status_code,
            )
        else:
            _expect(
                response.status_code in (cancelled, finished),
                "DELETE answers 200 or 409",
                [cancelled, finished],
                response.status_code,
            )
        if response.status_code == cancelled and predicted.status == "running":
            predicted.status, predicted.cancelled_at = CANCELLED, response.json()["cancelled_at"]

    @precondition(
        lambda self: any(p.scenario == QUICK or p.status != "running" for p in self.model.values())
    )
    @rule(data=st.data(), cut=st.integers(1, 3))
    def read_then_resume(self, data: st.DataObject, cut: int) -> None:
        choices = sorted(
            s for s, p in self.model.items() if p.scenario == QUICK or p.status != "running"
        )
        session = data.draw(st.sampled_from(choices))
        full = self._history(session)
        note(f"stream {session}: {[(e.id, e.event) for e in full]}")
        rules = stream_rules()
        last = full[-1] if full else None
        terminal = last is not None and rules.is_terminal(last.event, json.loads(last.data))
        _expect(
            terminal,
            "a finished stream ends with its terminal event",
            "terminal last",
            last.event if last else None,
        )
        assert last is not None
        status = rules.session_status_after(last.event, json.loads(last.data))
        predicted = self.model[session]
        if predicted.status in TERMINAL:
            _expect(
                status == predicted.status,
                "the stream's terminal agrees with the model",
                predicted.status,
                status,
            )
        predicted.status = status or predicted.status
        head = full[: min(cut, len(full))]
        rest = self._history(session, head[-1].id)
        _expect(
            [e.id for e in head + rest] == [e.id for e in full],
            "resuming after a partial read continues without gap or duplicate",
            [e.id for e in full],
            [e.id for e in head + rest],
        )

    def teardown(self) -> None:
        for session, predicted in self.model.items():
            if predicted.status == "running":
                self.client.cancel(session)

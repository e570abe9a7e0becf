"""The stream rules as data: ids, terminal events, heartbeats, headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from contract._files import EVENTS_DIR, STREAM_PATH, load_data


@dataclass(frozen=True)
class TerminalRule:
    event: str
    when: Mapping[str, Any]
    session_status: str

    def matches(self, event: str, data: Mapping[str, Any]) -> bool:
        if event != self.event:
            return False
        for key, expected in self.when.items():
            actual = data.get(key)
            if isinstance(expected, list):
                if actual not in expected:
                    return False
            elif actual != expected:
                return False
        return True


@dataclass(frozen=True)
class WebSocketRules:
    """The ``websocket:`` section of ``stream.yaml``: the same log over a WebSocket."""

    event_field: str
    id_field: str
    data_field: str
    resume_field: str
    resume_wait_seconds: float
    close_after_terminal: int
    close_bad_resume: int

    def frame(self, event: str, data: Mapping[str, Any], event_id: int | None) -> dict[str, Any]:
        """The JSON frame of one event (``event_id`` ``None``: a heartbeat, no id field)."""
        frame: dict[str, Any] = {self.event_field: event}
        if event_id is not None:
            frame[self.id_field] = event_id
        frame[self.data_field] = dict(data)
        return frame

    def resume_message(self, after: int) -> dict[str, int]:
        """The client's first message resuming strictly after ``after``."""
        return {self.resume_field: after}


@dataclass(frozen=True)
class StreamRules:
    """Everything ``stream.yaml`` says, typed."""

    event_types: frozenset[str]
    id_pattern: re.Pattern[str]
    unnumbered_events: frozenset[str]
    optional_events: Mapping[str, str]
    """Event -> the optional profile whose feature alone emits it."""
    first_event: str
    first_statuses: frozenset[str]
    terminal_rules: tuple[TerminalRule, ...]
    cancel_event: str
    cancel_data: Mapping[str, Any]
    timeout_event: str
    timeout_data: Mapping[str, Any]
    interrupted_event: str
    interrupted_data: Mapping[str, Any]
    heartbeat_event: str
    heartbeat_data: Mapping[str, Any]
    heartbeat_default_interval: float
    heartbeat_comments_count: bool
    heartbeat_tolerance_factor: float
    heartbeat_tolerance_seconds: float
    retry_hint_ms: int
    close_after_terminal_seconds: float
    response_headers: Mapping[str, str]
    resume_header: str
    websocket: WebSocketRules

    @property
    def ended_statuses(self) -> frozenset[str]:
        """Session statuses after a terminal event (``completed``, ``failed``, ...)."""
        statuses: set[str] = set()
        for rule in self.terminal_rules:
            statuses.update(rule.when.get("status", []))
            if rule.session_status != "from_data":
                statuses.add(rule.session_status)
        return frozenset(statuses)

    def status_after(self, event: str, data: Mapping[str, Any]) -> str | None:
        """The status a session reports once ``event`` with ``data`` ended it (``None``:
        not a terminal event)."""
        for rule in self.terminal_rules:
            if rule.matches(event, data):
                status = data.get("status") if rule.session_status == "from_data" else None
                return str(status) if status is not None else rule.session_status
        return None

    @property
    def fatal_status(self) -> str:
        """The status a session ends in after a fatal error (the timeout's, a model fault's)."""
        status = self.status_after(self.timeout_event, self.timeout_data)
        if status is None:
            raise ValueError("stream.yaml: timeout_event is not a terminal event")
        return status

    @property
    def cancelled_status(self) -> str:
        """The status a cancelled session ends in (``cancel_event``'s data)."""
        status: str = self.cancel_data["status"]
        return status

    @property
    def media_type(self) -> str:
        """The stream's media type (its ``Content-Type``, and what a reader ``Accept``s)."""
        return self.response_headers["Content-Type"]

    def terminal_rule(self, event: str, data: Mapping[str, Any]) -> TerminalRule | None:
        return next((r for r in self.terminal_rules if r.matches(event, data)), None)

    def is_terminal(self, event: str, data: Mapping[str, Any]) -> bool:
        return self.terminal_rule(event, data) is not None

    def session_status_after(self, event: str, data: Mapping[str, Any]) -> str | None:
        """Status the status endpoint reports once this event was sent (None if not terminal)."""
        rule = self.terminal_rule(event, data)
        if rule is None:
            return None
        if rule.session_status == "from_data":
            return str(data["status"])
        return rule.session_status

    def is_interrupted(self, event: str, data: Mapping[str, Any]) -> bool:
        """Whether this is the terminal event of a session the sidecar stopped."""
        return event == self.interrupted_event and all(
            data.get(k) == v for k, v in self.interrupted_data.items()
        )

    def max_heartbeat_silence(self, interval: float) -> float:
        return interval * self.heartbeat_tolerance_factor + self.heartbeat_tolerance_seconds


@cache
def stream_rules() -> StreamRules:
    raw = load_data(STREAM_PATH)
    hb = raw["heartbeat"]
    return StreamRules(
        event_types=frozenset(p.stem for p in EVENTS_DIR.glob("*.json")),
        id_pattern=re.compile(raw["event_id"]["pattern"]),
        unnumbered_events=frozenset(raw["unnumbered_events"]),
        optional_events=dict(raw.get("optional_events", {})),
        first_event=raw["first_event"]["event"],
        first_statuses=frozenset(raw["first_event"]["status"]),
        terminal_rules=tuple(
            TerminalRule(t["event"], t.get("when", {}), t["session_status"])
            for t in raw["terminal_events"]
        ),
        cancel_event=raw["cancel_event"]["event"],
        cancel_data=raw["cancel_event"]["data"],
        timeout_event=raw["timeout_event"]["event"],
        timeout_data=raw["timeout_event"]["data"],
        interrupted_event=raw["interrupted_event"]["event"],
        interrupted_data=raw["interrupted_event"]["data"],
        heartbeat_event=hb["event"],
        heartbeat_data=hb["data"],
        heartbeat_default_interval=float(hb["default_interval_seconds"]),
        heartbeat_comments_count=bool(hb["comments_count"]),
        heartbeat_tolerance_factor=float(hb["tolerance_factor"]),
        heartbeat_tolerance_seconds=float(hb["tolerance_seconds"]),
        retry_hint_ms=int(raw["retry_hint_ms"]),
        close_after_terminal_seconds=float(raw["close_after_terminal_seconds"]),
        response_headers=dict(raw["response_headers"]),
        resume_header=raw["resume_header"],
        websocket=_websocket(raw["websocket"]),
    )


def _websocket(raw: Mapping[str, Any]) -> WebSocketRules:
    fields = raw["frame_fields"]
    if raw["id_type"] != "integer" or raw["heartbeats"] != "frames":
        raise ValueError("stream.yaml websocket: only integer ids and heartbeat frames are known")
    return WebSocketRules(
        event_field=fields["event"],
        id_field=fields["id"],
        data_field=fields["data"],
        resume_field=raw["resume_field"],
        resume_wait_seconds=float(raw["resume_wait_seconds"]),
        close_after_terminal=int(raw["close_codes"]["after_terminal"]),
        close_bad_resume=int(raw["close_codes"]["bad_resume"]),
    )

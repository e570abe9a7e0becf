"""Shared pieces of the security suite: requests without (or with wrong) credentials, and
every text a response or a stream exposes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Any

import httpx

from contract import Operation, status_for, stream_rules
from suites.checks.verdict import precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.recording import Recording, record
from suites.plugin.claims import claimed_operations, served
from suites.plugin.target import TargetOptions

PASSWD_LINE = re.compile(r"root:[^:\n]*:0:0:")
"""A line of /etc/passwd (what an escape to the account database shows)."""
SECRET_ENV = re.compile(r"OPENCODE_SHARED_SECRET=\S")
STREAM_OK = status_for("streamSession", "stream")


def guarded_operations(target: TargetOptions, sidecar: SidecarClient, live: str) -> list[Operation]:
    """Every operation that needs the bearer token on this target (from the contract), of
    the profiles it claims and served by it (see :mod:`suites.plugin.claims`; ``live``: a running
    session's id)."""
    return [
        op
        for op in claimed_operations(target)
        if not op.public
        and not (target.metrics_public and op.operation_id == "getMetrics")
        and served(op, lambda o: call_raw(sidecar, o, live, _bearer(sidecar)))
    ]


def _bearer(client: SidecarClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.secret}"} if client.secret else {}


def path_of(op: Operation, session_id: str) -> str:
    """The operation's path with every parameter filled with ``session_id``."""
    return op.url_path_with(session_id)


def call_raw(
    client: SidecarClient,
    op: Operation,
    session_id: str,
    headers: dict[str, str],
    body: Any = None,
) -> httpx.Response:
    """Call ``op`` with exactly ``headers`` (and ``body`` for a POST); a stream is closed
    right after its head, so a bypassed stream never blocks the suite."""
    path = path_of(op, session_id)
    json = body if op.method == "POST" else None
    with client.http.stream(
        op.method, path, headers=headers, json=json, timeout=httpx.Timeout(10.0, read=3.0)
    ) as response:
        if response.headers.get("content-type", "").startswith(stream_rules().media_type):
            return response
        response.read()
        return response


def response_texts(label: str, response: httpx.Response) -> list[tuple[str, str]]:
    """(where, text) for a response's headers and (read) body."""
    texts = [(f"{label} headers", "\n".join(f"{k}: {v}" for k, v in response.headers.items()))]
    with contextlib.suppress(httpx.ResponseNotRead):
        texts.append((f"{label} body", response.text))
    return texts


def stream_texts(label: str, recording: Recording) -> list[tuple[str, str]]:
    texts = [(f"{label} stream head", recording.head.decode("utf-8", "replace"))]
    texts += [(f"{label} event {e.id} {e.event}", e.data) for e in recording.events]
    texts += [(f"{label} headers", "\n".join(f"{k}: {v}" for k, v in recording.headers.items()))]
    return texts


def leaks(secret: str, texts: Iterable[tuple[str, str]]) -> list[str]:
    """Where ``secret`` appears."""
    return [where for where, text in texts if secret and secret in text]


def finished(sidecar: SidecarClient, session_id: str, max_silence: float) -> Recording:
    """The session's whole stream, up to its terminal event (else a precondition failed)."""
    recording = record(sidecar, session_id, max_silence=max_silence)
    if recording.status_code != STREAM_OK or recording.terminal_index() is None:
        precondition_failed("SSE-ONE-TERMINAL", "the session's stream did not end")
    return recording

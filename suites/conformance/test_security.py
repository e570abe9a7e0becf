"""Security clauses: the api_key is never echoed; the shared secret guards every route."""

from __future__ import annotations

import uuid

import httpx
import pytest

from contract import Operation, status_for
from suites.checks.expect import expect_error_body
from suites.checks.verdict import capability_absent, check
from suites.clientkit.client import SidecarClient, session_body
from suites.clientkit.recording import record
from suites.plugin.claims import claimed_operations, served
from suites.plugin.fixtures import HELLO_WRITE, LONG_RUNNING, SessionFactory
from suites.plugin.target import TargetOptions


@pytest.mark.clause("SECRET-NEVER-ECHOED")
def test_api_key_appears_in_no_response_or_event(
    sidecar: SidecarClient, sessions: SessionFactory, api_key: str, max_silence: float
) -> None:
    seen: list[tuple[str, httpx.Response]] = []

    def keep(label: str, response: httpx.Response) -> None:
        seen.append((label, response))

    done = sessions.start(HELLO_WRITE)
    stream = record(sidecar, done, max_silence=max_silence)
    keep("stream", stream.response)
    keep("status", sidecar.status(done))
    keep("duplicate", sidecar.create_session(done, "again", sessions.config(HELLO_WRITE)))
    keep("cancel finished", sidecar.cancel(done))
    running = sessions.start(LONG_RUNNING)
    keep("status running", sidecar.status(running))
    keep("cancel", sidecar.cancel(running))
    bad = session_body(str(uuid.uuid4()), "x", sessions.config(HELLO_WRITE, temperature=9))
    keep("invalid create", sidecar.call("createSession", json=bad))
    wrong_type = session_body(str(uuid.uuid4()), "x", sessions.config(HELLO_WRITE))
    wrong_type["model_config"]["max_tokens"] = api_key
    keep("invalid max_tokens", sidecar.call("createSession", json=wrong_type))
    keep("metrics", sidecar.metrics())
    texts = [
        (
            f"{label} body",
            r.text
            if label != "stream"
            else stream.head.decode("utf-8", "replace") + "".join(e.data for e in stream.events),
        )
        for label, r in seen
    ]
    texts += [(f"{label} headers", str(dict(r.headers))) for label, r in seen]
    leaks = [label for label, text in texts if api_key in text]
    check(not leaks, "the api_key must appear in no response or event", "nowhere", leaks)


def path_of(op: Operation, session_id: str) -> str:
    """The operation's path, every parameter filled with ``session_id`` (a request id too)."""
    return op.url_path_with(session_id)


@pytest.mark.clause("AUTH-REQUIRED")
def test_routes_need_the_bearer_token(
    target: TargetOptions,
    anonymous: SidecarClient,
    sidecar: SidecarClient,
    sessions: SessionFactory,
) -> None:
    if not target.secret:
        capability_absent("the target runs without a shared secret", flag="--secret")
    some_id = str(uuid.uuid4())
    live = sessions.start(HELLO_WRITE)

    def authenticated(op: Operation) -> httpx.Response:
        return sidecar.http.request(op.method, path_of(op, live), timeout=10.0)

    for op in claimed_operations(target):
        if op.public or not served(op, authenticated):
            continue
        path = path_of(op, some_id)
        for headers in (
            {},
            {"Authorization": "Bearer wrong-secret"},
            {"Authorization": target.secret},
        ):
            response = anonymous.http.request(
                op.method, path, headers=headers, json={} if op.method == "POST" else None
            )
            expected = status_for(op.operation_id, "unauthorized")
            check(
                response.status_code == expected,
                f"{op.method} {op.path} must refuse {headers or 'no credentials'}",
                f"HTTP {expected}",
                f"HTTP {response.status_code}",
                response,
            )
            expect_error_body(response, "the 401 must carry the JSON error body")
    allowed = sidecar.status(live)
    check(
        allowed.status_code != status_for("getSessionStatus", "unauthorized"),
        "the right bearer token must be accepted",
        "not 401",
        f"HTTP {allowed.status_code}",
        allowed,
    )

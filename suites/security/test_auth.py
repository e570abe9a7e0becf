"""The shared secret: every guarded operation, the exact token only, no hint, no echo."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from contract import operation, operations, status_for
from suites.checks.expect import body_text, expect_error_body
from suites.checks.verdict import capability_absent, check, violation
from suites.clientkit.client import SidecarClient, session_body
from suites.clientkit.recording import record
from suites.plugin.fixtures import LONG_RUNNING, QUICK, SessionFactory
from suites.plugin.target import TargetOptions
from suites.security._support import (
    call_raw,
    guarded_operations,
    leaks,
    response_texts,
    stream_texts,
)


def _secret(target: TargetOptions) -> str:
    if not target.secret:
        capability_absent("the target runs without a shared secret", flag="--secret")
    return target.secret


def _unauthorized(op_id: str) -> int:
    return status_for(op_id, "unauthorized")


@pytest.mark.clause("AUTH-EVERY-ROUTE")
def test_every_guarded_operation_refuses_and_does_nothing(
    target: TargetOptions,
    anonymous: SidecarClient,
    sidecar: SidecarClient,
    sessions: SessionFactory,
) -> None:
    _secret(target)
    running = sessions.start(LONG_RUNNING)
    fresh = str(uuid.uuid4())
    body = session_body(fresh, "Play quick.", sessions.config(QUICK))
    for op in guarded_operations(target, sidecar, running):
        response = call_raw(anonymous, op, running, {}, body)
        expected = _unauthorized(op.operation_id)
        check(
            response.status_code == expected,
            f"{op.method} {op.path} without credentials must answer {expected}",
            f"HTTP {expected}",
            f"HTTP {response.status_code}: {body_text(response)}",
            response,
        )
        expect_error_body(response, f"{op.method} {op.path}: the 401 must carry the error body")
    created = sidecar.status(fresh)
    check(
        created.status_code == status_for("getSessionStatus", "not_found"),
        "an unauthenticated POST /sessions must create no session",
        f"HTTP {status_for('getSessionStatus', 'not_found')} for its session_id",
        f"HTTP {created.status_code}: {body_text(created)}",
        created,
    )
    still = sidecar.status(running).json()
    check(
        still.get("cancelled_at") is None and still.get("status") != "cancelled",
        "an unauthenticated DELETE must cancel nothing",
        "the session still running",
        still,
    )


def _wrong_credentials(secret: str) -> dict[str, str]:
    """Authorization values that must all be refused (label -> value)."""
    basic_user = base64.b64encode(f"backend:{secret}".encode()).decode()
    basic_bare = base64.b64encode(secret.encode()).decode()
    swapped = secret.swapcase() if secret.swapcase() != secret else secret + "A"
    return {
        "case-changed token": f"Bearer {swapped}",
        "prefix of the secret": f"Bearer {secret[:-1]}",
        "suffix of the secret": f"Bearer {secret[1:]}",
        "secret with a suffix": f"Bearer {secret}x",
        "secret with a prefix": f"Bearer x{secret}",
        "secret, comma, more": f"Bearer {secret},x",
        "empty token": "Bearer",
        "no scheme": secret,
        "Basic user:secret": f"Basic {basic_user}",
        "Basic secret": f"Basic {basic_bare}",
        "Token scheme": f"Token {secret}",
        "two tokens": f"Bearer {secret} {secret}",
    }


@pytest.mark.clause("AUTH-SCHEME")
def test_only_the_exact_token_is_accepted(
    target: TargetOptions, anonymous: SidecarClient, sessions: SessionFactory
) -> None:
    secret = _secret(target)
    session_id = sessions.start(QUICK)
    op = operation("getSessionStatus")
    path = op.url_path(session_id=session_id)
    accepted = anonymous.http.get(path, headers={"Authorization": f"Bearer {secret}"})
    check(
        accepted.status_code == status_for(op.operation_id, "status"),
        "the exact bearer token must be accepted",
        f"HTTP {status_for(op.operation_id, 'status')}",
        f"HTTP {accepted.status_code}",
        accepted,
    )
    let_through = []
    for label, value in _wrong_credentials(secret).items():
        response = anonymous.http.get(path, headers={"Authorization": value})
        if response.status_code != _unauthorized(op.operation_id):
            let_through.append(f"{label}: HTTP {response.status_code}")
    check(
        not let_through,
        "credentials other than the exact token must answer 401",
        f"HTTP {_unauthorized(op.operation_id)} for each",
        let_through,
    )


def _comparable(response: httpx.Response) -> tuple[int, object, frozenset[str]]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "timestamp"}
    varying = {"date", "x-request-id", "content-length"}
    names = frozenset(k.lower() for k in response.headers if k.lower() not in varying)
    return response.status_code, body, names


@pytest.mark.clause("AUTH-NO-HINT")
def test_every_refusal_is_the_same_answer(
    target: TargetOptions, anonymous: SidecarClient, sessions: SessionFactory
) -> None:
    secret = _secret(target)
    session_id = sessions.start(QUICK)
    path = operation("getSessionStatus").url_path(session_id=session_id)
    variants = {
        "no Authorization": {},
        "empty Authorization": {"Authorization": ""},
        "wrong token": {"Authorization": "Bearer wrong-secret"},
        "partial token": {"Authorization": f"Bearer {secret[: len(secret) // 2]}"},
        "malformed header": {"Authorization": "Bearer"},
        "other scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }
    answers = {label: anonymous.http.get(path, headers=h) for label, h in variants.items()}
    reference_label, reference = next(iter(answers.items()))
    expected = _comparable(reference)
    differ = {label: _comparable(r) for label, r in answers.items() if _comparable(r) != expected}
    if differ:
        violation(
            "every 401 must be the same answer, whatever was wrong",
            f"as for {reference_label}: {expected}",
            differ,
            reference,
        )
    leaked = leaks(secret, (t for label, r in answers.items() for t in response_texts(label, r)))
    check(not leaked, "a 401 must not contain the secret", "nowhere", leaked)


@pytest.mark.clause("AUTH-SECRET-NEVER-ECHOED")
def test_the_secret_appears_in_no_response_or_event(
    target: TargetOptions,
    sidecar: SidecarClient,
    anonymous: SidecarClient,
    sessions: SessionFactory,
    max_silence: float,
) -> None:
    secret = _secret(target)
    seen: list[tuple[str, httpx.Response]] = []
    for op in operations().values():
        if op.method == "GET" and "{" not in op.path:
            seen.append((op.operation_id, sidecar.call(op.operation_id)))
    done = sessions.start(QUICK)
    recording = record(sidecar, done, max_silence=max_silence)
    seen.append(("status", sidecar.status(done)))
    seen.append(("duplicate", sidecar.create_session(done, "again", sessions.config(QUICK))))
    seen.append(("cancel finished", sidecar.cancel(done)))
    running = sessions.start(LONG_RUNNING)
    seen.append(("cancel", sidecar.cancel(running)))
    seen.append(("unknown status", sidecar.status(str(uuid.uuid4()))))
    seen.append(("malformed id", sidecar.status("not-a-uuid")))
    seen.append(("unknown route", sidecar.http.get("/no-such-route")))
    seen.append(("wrong method", sidecar.http.put(operation("createSession").path)))
    bad = session_body(str(uuid.uuid4()), "", sessions.config(QUICK, temperature=9))
    seen.append(("invalid create", sidecar.call("createSession", json=bad)))
    seen.append(("bad json", sidecar.http.post(operation("createSession").path, content=b"{")))
    wrong = {"Authorization": f"Bearer {secret}x"}
    seen.append(
        (
            "401",
            anonymous.http.get(
                operation("getSessionStatus").url_path(session_id=done), headers=wrong
            ),
        )
    )
    texts = [t for label, r in seen for t in response_texts(label, r)]
    texts += stream_texts("stream", recording)
    found = leaks(secret, texts)
    check(not found, "the shared secret must appear in no response or event", "nowhere", found)

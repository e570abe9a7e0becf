"""Permission requests (STREAM_RULES.md#permissions): a tool the session's policy says
``ask`` for waits behind a ``permission_request`` until the backend answers (REST or the
WebSocket) or PERMISSION_TIMEOUT denies it; ``deny`` prevents the effect and the model
receives the message; ``allow_always`` is not asked again; ``allow`` never asks."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import websocket

from contract import status_for, stream_rules, validate_component, validate_event
from suites.agent._semantics import is_error, is_success, read_shows
from suites.checks.verdict import capability_absent, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.clientkit.ws import close, handshake_headers, ws_url
from suites.conversation._drive import (
    Drive,
    Responder,
    answer,
    drive,
    marker,
    never_answer,
    plan_config,
    requests_with,
    start,
)
from suites.plugin.target import TargetOptions

ONCE = "permission_bash"
TWICE = "permission_bash_twice"
TIMEOUT_MAX = 30.0
"""A longer PERMISSION_TIMEOUT would make the check wait too long."""
ASK_BASH = {"bash": "ask"}
AFTER_EXPIRY = 1.5
"""Seconds the session needs after the expiry (the refused call, a read, the answer)."""


@dataclass(frozen=True)
class Plan:
    scenario: str
    permissions: dict[str, Any]
    respond: Responder
    note: str


@dataclass(frozen=True)
class PermissionRuns:
    denied: Drive
    policy_denied: Drive
    always: Drive
    allowed: Drive
    expired: Drive | None
    over_ws: Drive
    deny_message: str
    notes: dict[str, str]
    endpoint: str


def _deny_with(message: str) -> Responder:
    def respond(client: SidecarClient, run: Drive, request: dict[str, Any]) -> None:
        run.notes["request"] = request
        run.notes["results_before"] = [r.get("call_id") for r in run.of("tool_result")]
        status = client.status(run.session_id)
        run.notes["status"] = status.json() if status.is_success else {}
        answer(client, run, request.get("request_id"), "deny", message)

    return respond


def _always(client: SidecarClient, run: Drive, request: dict[str, Any]) -> None:
    if "first" in run.notes:  # asked again (it must not be): let the session go on
        answer(client, run, request.get("request_id"), "allow_once")
        return
    run.notes["first"] = answer(client, run, request.get("request_id"), "allow_always")
    run.notes["again"] = answer(client, run, request.get("request_id"), "deny")
    run.notes["unknown"] = answer(client, run, f"perm-unknown-{marker()}", "allow_once")


def _allow_once(client: SidecarClient, run: Drive, request: dict[str, Any]) -> None:
    answer(client, run, request.get("request_id"), "allow_once")


def _over_ws(
    client: SidecarClient, session_id: str, created: Any, max_silence: float, window: float
) -> Drive:
    """Read the session on its WebSocket, answering each request there (allow_once)."""
    run = Drive(session_id, created)
    if created.status_code != status_for("createSession", "created"):
        precondition_failed("CREATE-201", f"POST /sessions answered {created.status_code}")
    headers = handshake_headers(client)
    conn = websocket.create_connection(
        ws_url(client, session_id),
        timeout=max_silence,
        header=[f"{k}: {v}" for k, v in headers.items() if k == "Authorization"],
    )
    rules = stream_rules()
    fields = rules.websocket
    deadline = time.monotonic() + window
    try:
        conn.send(json.dumps(fields.resume_message(0)))
        while time.monotonic() < deadline:
            try:
                frame = json.loads(conn.recv())
            except (websocket.WebSocketException, ConnectionError, ValueError):
                break
            if not isinstance(frame, dict) or not isinstance(frame.get(fields.data_field), dict):
                run.notes.setdefault("other_frames", []).append(frame)
                continue
            event, data = frame.get(fields.event_field), frame[fields.data_field]
            run.events.append((str(event), data))
            if event == "permission_request":
                reply = {"request_id": data.get("request_id"), "decision": "allow_once"}
                conn.send(json.dumps({"permission_reply": reply}))
            if rules.is_terminal(str(event), data):
                run.ended = True
                break
    finally:
        close(conn)
    if not run.ended:
        client.cancel(session_id)
    return run


def timeout_unchecked(target: TargetOptions) -> str | None:
    """Why PERMISSION-TIMEOUT cannot be checked on ``target`` (naming the fix)."""
    limit = target.permission_timeout
    if limit is None or limit > TIMEOUT_MAX:
        shown = "not declared" if limit is None else f"{limit:g} s"
        return (
            f"the target's PERMISSION_TIMEOUT is {shown}; run it with one of at most "
            f"{TIMEOUT_MAX:g} s and pass --permission-timeout SECONDS"
        )
    if target.session_timeout is not None and target.session_timeout < limit + AFTER_EXPIRY:
        return (
            f"SESSION_TIMEOUT {target.session_timeout:g} s leaves no time after a permission "
            f"timeout of {limit:g} s; run the target with SESSION_TIMEOUT >= "
            f"{limit + AFTER_EXPIRY:g} s"
        )
    return None


def _timeout_of(target: TargetOptions) -> float | None:
    return target.permission_timeout if timeout_unchecked(target) is None else None


@pytest.fixture(scope="session")
def permission_runs(
    target: TargetOptions,
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
) -> PermissionRuns:
    """Six sessions at once (fewer at a time under a declared MAX_SESSIONS)."""
    message = f"Not now, use ls instead ({marker()})."
    timeout = _timeout_of(target)
    plans = {
        "denied": Plan(ONCE, ASK_BASH, _deny_with(message), marker()),
        "policy_denied": Plan(ONCE, {"bash": "deny"}, never_answer, marker()),
        "always": Plan(TWICE, ASK_BASH, _always, marker()),
        "allowed": Plan(
            ONCE,
            {
                "bash": {"default": "ask", "commands": [{"pattern": "echo *", "action": "allow"}]},
                "read": "allow",
            },
            _allow_once,
            marker(),
        ),
        "over_ws": Plan(ONCE, ASK_BASH, never_answer, marker()),
    }
    if timeout is not None:
        plans["expired"] = Plan(ONCE, ASK_BASH, never_answer, marker())
    window = 60.0 + 2 * (timeout or 0)
    silence = max(max_silence, (timeout or 0) + 10.0)

    def run(name: str) -> Drive:
        plan = plans[name]
        prompt = f"Play {plan.scenario} note={plan.note} (permissions {name} {marker()})."
        config = plan_config(plan.scenario, model_endpoint, api_key)
        session_id, created = start(sidecar, prompt, config, permissions=plan.permissions)
        if name == "over_ws":
            return _over_ws(sidecar, session_id, created, silence, window)
        return drive(sidecar, session_id, created, plan.respond, max_silence=silence, window=window)

    workers = min(len(plans), target.max_sessions or len(plans))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(plans, pool.map(run, plans), strict=True))
    return PermissionRuns(
        denied=done["denied"],
        policy_denied=done["policy_denied"],
        always=done["always"],
        allowed=done["allowed"],
        expired=done.get("expired"),
        over_ws=done["over_ws"],
        deny_message=message,
        notes={name: plan.note for name, plan in plans.items()},
        endpoint=model_endpoint,
    )


def _bash_then_read(run: Drive, label: str) -> tuple[dict[str, Any], Any, Any]:
    """The run's bash call, its result, and the result of reading asked.txt after it."""
    bash, reads = run.calls("bash"), run.calls("read")
    if not bash or not reads:
        precondition_failed(
            "AGENT-TOOL-SEMANTICS", f"{label}: the bash and read calls were not reported"
        )
    return bash[0], run.result_of(bash[0]), run.result_of(reads[0])


@pytest.mark.clause("PERMISSION-ASK")
def test_an_ask_tool_waits_behind_a_permission_request(permission_runs: PermissionRuns) -> None:
    run = permission_runs.denied
    requests = run.of("permission_request")
    check(len(requests) == 1, "bash: ask emits one permission_request", 1, len(requests))
    request = requests[0]
    problems = validate_event("permission_request", request)
    check(not problems, "permission_request data must fit its schema", [], problems)
    call = run.calls("bash")[0] if run.calls("bash") else {}
    check(
        request.get("call_id") == call.get("call_id") and request.get("tool") == "bash",
        "the request names the waiting call (call_id, tool)",
        {"call_id": call.get("call_id"), "tool": "bash"},
        request,
    )
    args = request.get("args") or {}
    check(
        args.get("command") == (call.get("args") or {}).get("command"),
        "the request shows the arguments that matter (bash: the command)",
        (call.get("args") or {}).get("command"),
        args,
    )
    asked = run.index_of("permission_request")
    called = run.index_of("tool_call", call_id=call.get("call_id"))
    check(
        asked is not None and called is not None and called < asked,
        "the permission_request follows its tool_call",
        "tool_call, then permission_request",
        [e for e, _ in run.events],
    )
    check(
        call.get("call_id") not in run.notes.get("results_before", []),
        "no tool_result for the call before the request is answered",
        "no tool_result yet",
        run.notes.get("results_before"),
    )
    pending = run.notes.get("status", {}).get("pending_permissions")
    ids = [p.get("request_id") for p in pending] if isinstance(pending, list) else pending
    check(
        isinstance(ids, list) and request.get("request_id") in ids,
        "GET /status lists the waiting request in pending_permissions",
        [request.get("request_id")],
        pending,
    )


@pytest.mark.clause("PERMISSION-DENY")
def test_deny_prevents_the_effect_and_the_model_gets_the_message(
    permission_runs: PermissionRuns,
) -> None:
    for label, run in (
        ("answered deny", permission_runs.denied),
        ("policy deny", permission_runs.policy_denied),
    ):
        call, result, read = _bash_then_read(run, label)
        check(
            is_error(result),
            f"{label}: the bash call's tool_result is the error result",
            "error",
            result,
        )
        check(
            is_error(read),
            f"{label}: the command's effect must not happen (asked.txt must not exist)",
            "read asked.txt: error",
            read,
        )
    policy_asked = permission_runs.policy_denied.of("permission_request")
    check(not policy_asked, "policy deny emits no permission_request", [], policy_asked)
    run = permission_runs.denied
    resolved = run.of("permission_resolved")
    check(
        [r.get("decision") for r in resolved] == ["deny"],
        "a permission_resolved event says deny",
        ["deny"],
        resolved,
    )
    call = run.calls("bash")[0]
    requests = requests_with(permission_runs.endpoint, ONCE, permission_runs.notes["denied"])
    tool_texts = [
        str(item.get("text", ""))
        for audit in requests
        for item in audit.get("conversation", [])
        if item.get("role") == "tool" and item.get("call_id") == call.get("call_id")
    ]
    check(
        any(permission_runs.deny_message in text for text in tool_texts),
        "the model's next request carries the deny message as the tool's result",
        permission_runs.deny_message,
        tool_texts,
    )


@pytest.mark.clause("PERMISSION-ALLOW-ALWAYS")
def test_allow_always_is_not_asked_again(permission_runs: PermissionRuns) -> None:
    run = permission_runs.always
    asked = [r for r in run.of("permission_request") if r.get("tool") == "bash"]
    check(len(asked) == 1, "after allow_always, the second bash call is not asked", 1, asked)
    results = [run.result_of(c) for c in run.calls("bash")]
    check(
        len(results) == 2 and all(is_success(r) for r in results),
        "both bash calls run",
        "two success results",
        results,
    )
    reads = run.calls("read")
    read = run.result_of(reads[0]) if reads else None
    output = str(read.get("output", "")) if isinstance(read, dict) else ""
    check(read_shows(output, "one\ntwo\n"), "twice.txt holds both lines", "one\ntwo", read)


def _error_body(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and not validate_component("Error", body)


@pytest.mark.clause("PERMISSION-ANSWER-ONCE")
def test_a_second_answer_and_an_unknown_request_are_refused(
    permission_runs: PermissionRuns,
) -> None:
    notes = permission_runs.always.notes
    first = notes.get("first")
    if first is None or first.status_code != status_for("answerPermission", "answered"):
        precondition_failed("PERMISSION-ALLOW-ALWAYS", f"the first answer was refused: {first}")
    again, unknown = notes["again"], notes["unknown"]
    wanted = status_for("answerPermission", "not_pending")
    check(
        again.status_code == wanted, "a second answer is refused", wanted, again.status_code, again
    )
    check(_error_body(again), "its body is the JSON error object", "Error", again.text, again)
    wanted = status_for("answerPermission", "unknown_request")
    check(
        unknown.status_code == wanted,
        "an answer to a request the session never emitted is refused",
        wanted,
        unknown.status_code,
        unknown,
    )
    check(_error_body(unknown), "its body is the JSON error object", "Error", unknown.text, unknown)


def _at(timestamp: Any) -> float:
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


@pytest.mark.clause("PERMISSION-TIMEOUT")
def test_an_unanswered_request_is_denied_after_the_timeout(
    permission_runs: PermissionRuns, target: TargetOptions
) -> None:
    run, timeout = permission_runs.expired, _timeout_of(target)
    if run is None or timeout is None:
        capability_absent(str(timeout_unchecked(target)), flag="--permission-timeout SECONDS")
    requests, resolved = run.of("permission_request"), run.of("permission_resolved")
    if not requests:
        precondition_failed("PERMISSION-ASK", "no permission_request was emitted")
    check(
        len(resolved) == 1
        and resolved[0].get("decision") == "deny"
        and resolved[0].get("by") == "timeout",
        "an unanswered request ends with permission_resolved deny, by timeout",
        {"decision": "deny", "by": "timeout"},
        resolved,
    )
    waited = _at(resolved[0].get("timestamp")) - _at(requests[0].get("timestamp"))
    check(
        timeout - 0.5 <= waited <= timeout * 1.5 + 2.0,
        f"the request is denied PERMISSION_TIMEOUT ({timeout:g} s) after it was emitted",
        timeout,
        round(waited, 3),
    )
    _, result, read = _bash_then_read(run, "expired")
    check(is_error(result), "the expired call's tool_result is the error result", "error", result)
    check(is_error(read), "the expired call's effect must not happen", "read: error", read)
    check(run.ended, "the session goes on to its end", "terminal event", [e for e, _ in run.events])


@pytest.mark.clause("PERMISSION-ALLOW-SILENT")
def test_an_allowed_tool_runs_without_asking(permission_runs: PermissionRuns) -> None:
    run = permission_runs.allowed
    asked = run.of("permission_request") + run.of("permission_resolved")
    check(not asked, "no permission event for tools the policy allows", [], asked)
    _, result, read = _bash_then_read(run, "allowed")
    check(is_success(result), "the allowed bash command runs", "success", result)
    output = str(read.get("output", "")) if isinstance(read, dict) else ""
    note = permission_runs.notes["allowed"]
    check(read_shows(output, f"{note}\n"), "its effect shows (asked.txt)", note, read)


@pytest.mark.clause("PERMISSION-WS-ANSWER")
def test_a_request_can_be_answered_on_the_websocket(permission_runs: PermissionRuns) -> None:
    run = permission_runs.over_ws
    resolved = run.of("permission_resolved")
    check(
        [(r.get("decision"), r.get("by")) for r in resolved] == [("allow_once", "client")],
        "a permission_reply on the WebSocket answers the request (permission_resolved)",
        [("allow_once", "client")],
        resolved or run.notes.get("other_frames"),
    )
    _, result, _ = _bash_then_read(run, "over_ws")
    check(is_success(result), "the command answered allow_once runs", "success", result)

"""Input limits and injection: prompt caps and the tool enum from the contract, CR/LF in
session data and in X-Request-ID."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contract import operation, request_id_pattern, resolved_component, status_for, stream_rules
from suites.checks.expect import body_text, expect_error_body
from suites.checks.verdict import check, precondition_failed, violation
from suites.clientkit.client import SidecarClient, session_body
from suites.clientkit.rawhttp import raw_get
from suites.clientkit.recording import data_of, record
from suites.plugin.fixtures import QUICK, SessionFactory
from suites.plugin.target import TargetOptions

CRLF_INJECTION = "crlf_injection"
"""The fake model's scenario whose text and tool output carry CR/LF and SSE field lines."""

CREATE = "createSession"
REFUSED = {status_for(CREATE, "invalid"), status_for(CREATE, "too_large")}


def _limits() -> dict[str, int]:
    """Dotted field -> maxLength of every prompt-like field (from the contract)."""
    schema = resolved_component("CreateSessionRequest")
    model = schema["properties"]["model_config"]["properties"]
    return {
        "prompt": schema["properties"]["prompt"]["maxLength"],
        "system_prompt": schema["properties"]["system_prompt"]["maxLength"],
        "model_config.system_prompt": model["system_prompt"]["maxLength"],
    }


def _expect_refused_and_absent(
    sidecar: SidecarClient, session_id: str, body: dict[str, Any], what: str, allowed: set[int]
) -> None:
    response = sidecar.call(CREATE, json=body)
    check(
        response.status_code in allowed,
        f"{what} must be refused",
        " or ".join(f"HTTP {s}" for s in sorted(allowed)),
        f"HTTP {response.status_code}: {body_text(response)}",
        response,
    )
    expect_error_body(response, f"{what}: the refusal must carry the error body")
    status = sidecar.status(session_id)
    check(
        status.status_code == status_for("getSessionStatus", "not_found"),
        f"{what}: no session may be created",
        "HTTP 404 for its session_id",
        f"HTTP {status.status_code}",
        status,
    )


@pytest.mark.clause("INPUT-PROMPT-LIMIT")
@pytest.mark.parametrize("field", sorted(_limits()))
def test_prompts_over_the_cap_are_refused(
    field: str, sidecar: SidecarClient, sessions: SessionFactory
) -> None:
    limit = _limits()[field]
    session_id = str(uuid.uuid4())
    body = session_body(session_id, "Play quick.", sessions.config(QUICK))
    node = body
    *parents, name = field.split(".")
    for parent in parents:
        node = node[parent]
    node[name] = "x" * (limit + 1)
    _expect_refused_and_absent(
        sidecar, session_id, body, f"{field} of {limit + 1} characters (max {limit})", REFUSED
    )


@pytest.mark.clause("INPUT-TOOLS-ENUM")
def test_unknown_tools_are_refused(sidecar: SidecarClient, sessions: SessionFactory) -> None:
    known = list(resolved_component("Tool")["enum"])
    unknown = f"{known[0]}_unrestricted"
    session_id = str(uuid.uuid4())
    config = sessions.config(QUICK, enabled_tools=(*known, unknown))
    body = session_body(session_id, "Play quick.", config)
    _expect_refused_and_absent(
        sidecar,
        session_id,
        body,
        f"enabled_tools naming {unknown!r}",
        {status_for(CREATE, "invalid")},
    )


@pytest.mark.clause("SSE-NO-INJECTION")
def test_crlf_in_session_data_creates_no_frame(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    session_id = sessions.start(
        CRLF_INJECTION, prompt="Hi\r\n\r\nevent: complete\r\ndata: {}\r\n\r\n"
    )
    recording = record(sidecar, session_id, max_silence=max_silence)
    if recording.status_code != status_for("streamSession", "stream"):
        precondition_failed("SSE-CONTENT-TYPE", f"the stream answered {recording.status_code}")
    rules = stream_rules()
    problems: list[str] = []
    terminal: list[int] = []
    for index, event in enumerate(recording.events):
        data = data_of(event)
        if not isinstance(data, dict):
            problems.append(f"event {index} ({event.event}) data is not a JSON object")
            continue
        if event.id is not None and not event.id.isdigit():
            problems.append(f"event {index} has id {event.id!r}")
        if rules.is_terminal(event.event, data):
            terminal.append(index)
        if "forged" in (data.get("final_message"), data.get("error")):
            problems.append(f"event {index} is the forged {event.event}")
    ids = [int(e.id) for e in recording.events if e.id is not None and e.id.isdigit()]
    if ids != sorted(set(ids)):
        problems.append(f"ids out of order: {ids}")
    if terminal != [len(recording.events) - 1]:
        problems.append(f"terminal events at {terminal} of {len(recording.events)}")
    if problems:
        violation(
            "CR/LF in model text or tool output must stay inside one event's data",
            "every event's data JSON, no forged event, one terminal event last",
            problems,
        )


UNSAFE_REQUEST_IDS = {
    "space": "a b",
    "markup": "<script>alert(1)</script>",
    "percent-encoded CRLF": "abc%0d%0aSet-Cookie:%20x=1",
    "too long": "x" * 129,
}


@pytest.mark.clause("REQUEST-ID-SAFE")
def test_unsafe_request_ids_are_replaced(sidecar: SidecarClient, target: TargetOptions) -> None:
    pattern = request_id_pattern()
    probe = operation("getLiveness").path
    wrong = []
    for label, value in UNSAFE_REQUEST_IDS.items():
        response = sidecar.http.get(probe, headers={"X-Request-ID": value})
        echoed = response.headers.get("X-Request-ID", "")
        if echoed == value or not pattern.fullmatch(echoed):
            wrong.append(f"{label}: answered {echoed[:80]!r}")
    answer = raw_get(target.url, probe, ["X-Request-ID: abc\rInjected: yes"])
    if answer.status is not None:
        lines = [line.lower() for line in answer.head.split("\r\n")]
        if any(line.startswith("injected:") for line in lines):
            wrong.append("bare CR: a header Injected was sent back")
        for line in answer.head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "x-request-id" and not pattern.fullmatch(value.strip()):
                wrong.append(f"bare CR: answered {value.strip()[:80]!r}")
    check(
        not wrong,
        "an unsafe X-Request-ID must be replaced by a fresh, safe one",
        f"ids matching {pattern.pattern}, never the value sent",
        wrong,
    )

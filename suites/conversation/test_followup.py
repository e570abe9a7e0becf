"""Follow-ups (STREAM_RULES.md#follow-ups): a session created with ``continue_from`` carries
the earlier turns to its model, works in the same workspace, uses its own key, and is
refused while the conversation runs or when the earlier session is unknown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contract import status_for, validate_component
from suites.checks.verdict import check, precondition_failed, violation
from suites.clientkit.client import SidecarClient
from suites.conversation._drive import (
    Drive,
    drive,
    marker,
    plan_config,
    requests_with,
    start,
)

FIRST = "conversation_first"
SECOND = "conversation_second"
RUNNING = "long_running"


@dataclass(frozen=True)
class Conversation:
    """Two turns: ``conversation_first`` writes the note, ``conversation_second`` (a
    follow-up with another key) cats it."""

    note: str
    first_prompt: str
    second_prompt: str
    first_key: str
    second_key: str
    first: Drive
    second: Drive
    endpoint: str


@pytest.fixture(scope="session")
def conversation(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, max_silence: float
) -> Conversation:
    note = f"note-{marker()}"
    first_prompt = f"Write the note note={note} (conversation {marker()})."
    second_prompt = f"Now show the note again (follow-up {marker()})."
    keys = (f"{api_key}-turn1", f"{api_key}-turn2")
    first_id, created = start(sidecar, first_prompt, plan_config(FIRST, model_endpoint, keys[0]))
    first = drive(sidecar, first_id, created, max_silence=max_silence)
    if not first.ended:
        precondition_failed("SSE-ONE-TERMINAL", f"{FIRST}: the first turn did not end")
    second_id, created = start(
        sidecar,
        second_prompt,
        plan_config(SECOND, model_endpoint, keys[1]),
        continue_from=first_id,
    )
    if created.status_code != status_for("createSession", "created"):
        violation(
            "a follow-up of a finished session must be created (continue_from)",
            status_for("createSession", "created"),
            f"{created.status_code}: {created.text[:300]}",
            created,
        )
    second = drive(sidecar, second_id, created, max_silence=max_silence)
    return Conversation(
        note, first_prompt, second_prompt, keys[0], keys[1], first, second, model_endpoint
    )


def _expected(conv: Conversation) -> list[tuple[str, Any]]:
    """The earlier turn as the first session's stream tells it: its prompt, each answer's
    text, each tool call and its result, in order; then the follow-up's prompt."""
    wanted: list[tuple[str, Any]] = [("user", conv.first_prompt)]
    text = ""
    for event, data in conv.first.events:
        if event == "output" and data.get("type", "stdout") == "stdout":
            text += str(data.get("text", ""))
            continue
        if event == "tool_call":
            if text.strip():
                wanted.append(("text", text.strip()))
            text = ""
            wanted.append(("call", (data.get("tool"), data.get("args"))))
        elif event == "tool_result":
            result = data.get("result") or {}
            wanted.append(("result", str(result.get("output", result.get("error", "")))))
    if text.strip():
        wanted.append(("text", text.strip()))
    wanted.append(("user", conv.second_prompt))
    return wanted


def _tokens(conversation: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for item in conversation:
        role = item.get("role")
        if role == "user":
            found.append(("user", str(item.get("text", ""))))
        elif role == "assistant":
            if str(item.get("text") or "").strip():
                found.append(("text", str(item["text"]).strip()))
            for call in item.get("tool_calls") or []:
                found.append(("call", (call.get("name"), call.get("args"))))
        elif role == "tool":
            found.append(("result", str(item.get("text", ""))))
    return found


def _matches(want: tuple[str, Any], got: tuple[str, Any]) -> bool:
    if want[0] != got[0]:
        return False
    if want[0] == "call":
        return bool(want[1] == got[1])
    return str(want[1]) in str(got[1])


@pytest.mark.clause("FOLLOWUP-HISTORY")
def test_the_follow_up_carries_the_earlier_turns_in_order(conversation: Conversation) -> None:
    requests = requests_with(conversation.endpoint, SECOND, conversation.second_prompt)
    if not requests:
        precondition_failed("AGENT-REQUEST-KEY", f"{SECOND}: the model got no request")
    got = _tokens(requests[0].get("conversation", []))
    wanted = _expected(conversation)
    position = 0
    for want in wanted:
        while position < len(got) and not _matches(want, got[position]):
            position += 1
        if position == len(got):
            violation(
                "the follow-up's first model request must carry every earlier prompt, the "
                "assistant's text, each tool call and its result, in order, then its prompt "
                f"(missing or out of order: {want[0]} {str(want[1])[:120]!r})",
                wanted,
                got,
            )
        position += 1
    check(
        position == len(got),
        "the follow-up's own prompt must come after the earlier turns",
        wanted[-1],
        got[position - 1 :],
    )


@pytest.mark.clause("FOLLOWUP-WORKSPACE")
def test_the_follow_up_works_in_the_same_workspace(conversation: Conversation) -> None:
    calls = conversation.second.calls("bash")
    if not calls:
        precondition_failed("AGENT-TOOL-SEMANTICS", f"{SECOND}: no bash call was reported")
    result = conversation.second.result_of(calls[0])
    if result is None:
        ended = conversation.second.events[-1] if conversation.second.events else None
        precondition_failed(
            "SSE-TOOL-PAIRING",
            f"{SECOND}: the bash call got no tool_result (the run ended {ended})",
        )
    shown = result.get("output") if isinstance(result, dict) else result
    check(
        shown == f"{conversation.note}\n",
        "`cat carry.txt` in the follow-up must print what the first turn wrote there",
        f"{conversation.note}\n",
        result,
    )


@pytest.mark.clause("FOLLOWUP-OWN-KEY")
def test_each_turn_sends_its_own_key_and_model(conversation: Conversation) -> None:
    turns = (
        (FIRST, conversation.first_prompt, conversation.first_key),
        (SECOND, conversation.second_prompt, conversation.second_key),
    )
    for scenario, prompt, key in turns:
        requests = requests_with(conversation.endpoint, scenario, prompt)
        if not requests:
            precondition_failed("AGENT-REQUEST-KEY", f"{scenario}: the model got no request")
        keys = {r.get("api_key") for r in requests}
        check(
            keys == {key},
            f"every model request of the {scenario} turn must carry that turn's own api_key",
            {key},
            keys,
        )


def _refused(
    sidecar: SidecarClient, response: httpx.Response, session_id: str, outcome: str, title: str
) -> None:
    wanted = status_for("createSession", outcome)
    if response.status_code == status_for("createSession", "created"):
        sidecar.cancel(session_id)
    check(response.status_code == wanted, title, wanted, response.status_code, response)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    problems = validate_component("Error", body) if isinstance(body, dict) else ["not JSON"]
    check(not problems, f"{title}: the body must be the JSON error object", "Error", body, response)
    status = sidecar.status(session_id)
    check(
        status.status_code == status_for("getSessionStatus", "not_found"),
        f"{title}: nothing may be created (GET /status of the new session_id)",
        status_for("getSessionStatus", "not_found"),
        status.status_code,
        status,
    )


@pytest.mark.clause("FOLLOWUP-RUNNING-409")
def test_a_follow_up_to_a_running_session_is_refused(
    sidecar: SidecarClient, model_endpoint: str, api_key: str
) -> None:
    running_id, created = start(
        sidecar, f"Keep running ({marker()}).", plan_config(RUNNING, model_endpoint, api_key)
    )
    if created.status_code != status_for("createSession", "created"):
        precondition_failed("CREATE-201", f"POST /sessions answered {created.status_code}")
    try:
        follow_id, response = start(
            sidecar,
            f"A follow-up too early ({marker()}).",
            plan_config(FIRST, model_endpoint, api_key),
            continue_from=running_id,
        )
        _refused(
            sidecar,
            response,
            follow_id,
            "conversation_running",
            "POST /sessions continuing a running session must answer conversation_running",
        )
    finally:
        sidecar.cancel(running_id)


@pytest.mark.clause("FOLLOWUP-UNKNOWN-404")
def test_a_follow_up_to_an_unknown_session_is_refused(
    sidecar: SidecarClient, model_endpoint: str, api_key: str
) -> None:
    follow_id, response = start(
        sidecar,
        f"A follow-up of nothing ({marker()}).",
        plan_config(FIRST, model_endpoint, api_key),
        continue_from=str(uuid.uuid4()),
    )
    _refused(
        sidecar,
        response,
        follow_id,
        "continued_not_found",
        "POST /sessions continuing an unknown session must answer continued_not_found",
    )

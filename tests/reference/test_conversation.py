"""Follow-ups and permission requests in the reference: the policy's rules, the answers'
states (answered, expired, ended), the WebSocket reply, the stored history, and that a
session using neither shows nothing new."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contract import status_for
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.app import create_app
from reference_server.history_format import with_history
from reference_server.permissions import PermissionPolicy
from reference_server.runtime import (
    AssistantStep,
    EarlierTurn,
    ModelConfig,
    SessionSpec,
    ToolExchange,
)
from reference_server.serve import running
from reference_server.sessions import spec_from_record, spec_record
from suites.clientkit.client import AsyncSidecarClient, model_config, session_body
from tests.reference.conftest import Sidecar, base_config

ASK = {"bash": "ask"}


def test_bash_rules_are_globs_over_the_whole_command_first_match_wins() -> None:
    policy = PermissionPolicy.from_body(
        {
            "bash": {
                "default": "ask",
                "commands": [
                    {"pattern": "git status*", "action": "allow"},
                    {"pattern": "rm *", "action": "deny"},
                    {"pattern": "ls [a]?", "action": "allow"},
                ],
            },
            "write": "deny",
        }
    )
    assert policy.decide("bash", {"command": "git status --short"}) == ("allow", "bash#0")
    assert policy.decide("bash", {"command": "rm -rf /tmp/x y"}) == ("deny", "bash#1")
    assert policy.decide("bash", {"command": "ls [a]b"}) == ("allow", "bash#2")
    assert policy.decide("bash", {"command": "ls ab"}) == ("ask", "bash")
    assert policy.decide("bash", {"command": "echo git status"}) == ("ask", "bash")
    assert policy.decide("write", {"filePath": "a"}) == ("deny", "write")
    assert policy.decide("read", {"filePath": "a"}) == ("allow", "read")
    assert PermissionPolicy.from_body({"bash": {"default": "deny"}}).decide("bash", {}) == (
        "deny",
        "bash",
    )


def test_a_follow_up_spec_keeps_its_history_in_the_store() -> None:
    turn = EarlierTurn(
        "first prompt",
        (
            AssistantStep("", (ToolExchange("c1", "write", {"filePath": "a"}, {"output": "ok"}),)),
            AssistantStep("done", ()),
        ),
    )
    spec = SessionSpec(
        "s2",
        "second",
        ModelConfig("openai", "m", "sk-secret"),
        Path("/w/s1"),
        history=(turn,),
        continued_from="s1",
    )
    record = json.loads(json.dumps(spec_record(spec)))
    assert "sk-secret" not in json.dumps(record)
    back = spec_from_record(record)
    assert back.history == (turn,) and back.continued_from == "s1"
    assert back.workspace == Path("/w/s1")


async def _start(sidecar: Sidecar, scenario: str, **extra: Any) -> str:
    session_id = str(uuid.uuid4())
    body = {**session_body(session_id, "note=x1", sidecar.config_for(scenario)), **extra}
    response = await sidecar.client.call("createSession", json=body)
    assert response.status_code == status_for("createSession", "created"), response.text
    return session_id


async def _pending(sidecar: Sidecar, session_id: str) -> list[dict[str, Any]]:
    for _ in range(200):
        body = (await sidecar.client.status(session_id)).json()
        if body.get("pending_permissions"):
            return list(body["pending_permissions"])
        await asyncio.sleep(0.02)
    raise AssertionError("no permission request came")


async def _answer(sidecar: Sidecar, session_id: str, request_id: str, **body: Any) -> Any:
    return await sidecar.client.call(
        "answerPermission",
        json=body,
        path={"session_id": session_id, "request_id": request_id},
    )


async def test_a_session_without_either_feature_shows_no_new_field(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("quick")
    await asyncio.sleep(0.3)
    body = (await sidecar.client.status(session_id)).json()
    assert "pending_permissions" not in body and "continued_from" not in body


async def test_answers_after_cancel_after_expiry_and_unknown_are_refused(
    make_sidecar: Any,
) -> None:
    sidecar: Sidecar = await make_sidecar(permission_timeout=0.5)
    waiting = await _start(sidecar, "permission_bash", permissions={"bash": "ask"})
    [request] = await _pending(sidecar, waiting)
    await sidecar.client.cancel(waiting)
    ended = await _answer(sidecar, waiting, request["request_id"], decision="allow_once")
    assert ended.status_code == status_for("answerPermission", "not_pending")
    assert ended.json()["details"]["state"] == "ended"
    events = (await sidecar.client.call("getSessionStatus", path={"session_id": waiting})).json()
    assert events["status"] == "cancelled" and events["pending_permissions"] == []

    expiring = await _start(sidecar, "permission_bash", permissions={"bash": "ask"})
    [request] = await _pending(sidecar, expiring)
    await asyncio.sleep(0.8)
    late = await _answer(sidecar, expiring, request["request_id"], decision="allow_once")
    assert late.status_code == status_for("answerPermission", "not_pending")
    assert late.json()["details"] == {
        "request_id": request["request_id"],
        "state": "expired",
        "decision": "deny",
    }
    unknown = await _answer(sidecar, expiring, "perm-99", decision="deny")
    assert unknown.status_code == status_for("answerPermission", "unknown_request")
    malformed = await _answer(sidecar, expiring, "perm 1", decision="deny")
    assert malformed.status_code == status_for("answerPermission", "invalid")
    wrong = await _answer(sidecar, expiring, request["request_id"], decision="maybe")
    assert wrong.status_code == status_for("answerPermission", "invalid")


async def test_a_websocket_reply_is_taken_and_a_bad_one_refused_in_a_frame(
    sidecar: Sidecar,
) -> None:
    session_id = await _start(sidecar, "permission_bash", permissions={"bash": "ask"})
    url = "ws" + sidecar.url.removeprefix("http") + f"/sessions/{session_id}/ws"
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"permission_reply": {"request_id": "perm-7", "decision": "deny"}})
        async for message in ws:
            frame = json.loads(message.data)
            frames.append(frame)
            if frame.get("event") == "permission_request":
                reply = {"request_id": frame["data"]["request_id"], "decision": "allow_once"}
                await ws.send_json({"permission_reply": reply})
    refused = [f["reply_refused"] for f in frames if "reply_refused" in f]
    assert [r["outcome"] for r in refused] == ["unknown_request"]
    resolved = [f["data"] for f in frames if f.get("event") == "permission_resolved"]
    assert [(r["decision"], r["by"]) for r in resolved] == [("allow_once", "client")]
    assert frames[-1]["event"] == "complete"


async def test_cancel_ends_a_waiting_session_with_its_terminal_event_last(
    sidecar: Sidecar,
) -> None:
    session_id = await _start(sidecar, "permission_bash", permissions={"bash": "ask"})
    await _pending(sidecar, session_id)
    await sidecar.client.cancel(session_id)
    stream = await sidecar.client.http.get(f"/sessions/{session_id}/stream")
    kinds = [line[7:] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert kinds[-1] == "status" and "permission_resolved" not in kinds
    assert "tool_result" not in kinds


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_follow_up_sends_the_earlier_turns_in_the_providers_format(
    sidecar: Sidecar, provider: str, model_server: Any
) -> None:
    endpoint = sidecar.model_url.removesuffix("/v1") if provider == "anthropic" else None
    extra = {"provider": provider, **({"api_endpoint": endpoint} if endpoint else {})}
    first = str(uuid.uuid4())
    config = {**sidecar.config_for("conversation_first"), **extra}
    await sidecar.client.call("createSession", json=session_body(first, "note=n42", config))
    await sidecar.client.http.get(f"/sessions/{first}/stream")
    second = str(uuid.uuid4())
    config = {**sidecar.config_for("conversation_second"), **extra}
    body = {**session_body(second, "again", config), "continue_from": first}
    created = await sidecar.client.call("createSession", json=body)
    assert created.status_code == 201, created.text
    await sidecar.client.http.get(f"/sessions/{second}/stream")
    [request, *_] = model_server.recorder.for_model("conversation_second")
    roles = [(i["role"], i.get("text", "")) for i in request.audit.conversation]
    assert [r for r, _ in roles] == ["user", "assistant", "tool", "assistant", "user"]
    assert roles[0][1] == "note=n42" and roles[3][1] == "Wrote the note."
    assert roles[-1][1] == "again"
    status = (await sidecar.client.status(second)).json()
    assert status["continued_from"] == first


def test_the_relay_puts_the_earlier_turns_before_a_runtimes_own_messages() -> None:
    turn = EarlierTurn(
        "first",
        (
            AssistantStep("", (ToolExchange("c1", "bash", {"command": "ls"}, {"error": "no"}),)),
            AssistantStep("done", ()),
        ),
    )
    chat = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "2nd"}]}
    spliced = with_history("openai_chat", chat, (turn,))["messages"]
    assert [m["role"] for m in spliced] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert spliced[3]["content"] == "Error: no" and spliced[-1]["content"] == "2nd"
    anthropic = {"system": "S", "messages": [{"role": "user", "content": "2nd"}]}
    spliced = with_history("anthropic_messages", anthropic, (turn,))["messages"]
    assert [m["role"] for m in spliced] == ["user", "assistant", "user", "assistant", "user"]
    assert spliced[2]["content"][0]["tool_use_id"] == "c1"
    assert with_history("openai_chat", chat, ()) is chat


async def test_a_runtime_that_cannot_ask_refuses_a_session_with_permissions(
    tmp_path: Path, model_server: Any
) -> None:
    config = base_config(tmp_path)
    config.workspace_dir.mkdir(parents=True)
    runtime = FakeOpenCodeRuntime(read_timeout=config.model_read_timeout)
    runtime.gates_tools = False  # as a runtime whose tools never reach the sidecar
    body = {
        **session_body(str(uuid.uuid4()), "hi", model_config("quick", model_server.url)),
        "permissions": ASK,
    }
    async with running(create_app(config, runtime), config) as url:
        client = AsyncSidecarClient(url)
        refused = await client.call("createSession", json=body)
        assert refused.status_code == status_for("createSession", "invalid")
        assert refused.json()["details"]["field"] == "permissions"
        body.pop("permissions")
        created = await client.call("createSession", json=body)
        assert created.status_code == status_for("createSession", "created")
        await client.http.aclose()

"""Every endpoint and status code of the contract, over a real socket."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

import contract
from contract import operation, status_for
from suites.clientkit.client import session_body
from tests.reference.conftest import Sidecar


def _errors_ok(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert contract.validate_component("Error", body) == [], body
    return body


async def test_probes(sidecar: Sidecar) -> None:
    for call in (sidecar.client.liveness(), sidecar.client.call("getHealth")):
        response = await call
        assert response.status_code == status_for("getLiveness", "alive")
        assert response.json() == {"status": "ok"}
    ready = await sidecar.client.readiness()
    assert ready.status_code == status_for("getReadiness", "ready")
    assert ready.json() == {"status": "ready"}


async def test_ready_is_503_when_the_workspace_is_gone(sidecar: Sidecar) -> None:
    sidecar.config.workspace_dir.rename(sidecar.config.workspace_dir.with_suffix(".moved"))
    ready = await sidecar.client.readiness()
    assert ready.status_code == status_for("getReadiness", "not_ready")
    assert ready.json()["error"] == "workspace not accessible"
    assert contract.validate_component("NotReady", ready.json()) == []
    refused = await sidecar.client.create_session(
        str(uuid.uuid4()), "x", sidecar.config_for("quick")
    )
    assert refused.status_code == status_for("createSession", "limit_reached")
    assert refused.headers["Retry-After"].isdigit()


async def test_create_answers_201_with_location(sidecar: Sidecar) -> None:
    session_id = str(uuid.uuid4())
    response = await sidecar.client.create_session(session_id, "hi", sidecar.config_for("quick"))
    assert response.status_code == status_for("createSession", "created")
    assert contract.validate_component("SessionCreated", response.json()) == []
    assert response.headers["Location"] == operation("getSessionStatus").url_path(
        session_id=session_id
    )


async def test_duplicate_id_answers_409(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("quick")
    again = await sidecar.client.create_session(session_id, "hi", sidecar.config_for("quick"))
    assert again.status_code == status_for("createSession", "duplicate")
    assert _errors_ok(again)["details"] == {"session_id": session_id}


async def test_invalid_body_names_the_field_and_never_echoes_the_key(sidecar: Sidecar) -> None:
    body = session_body(str(uuid.uuid4()), "hi", sidecar.config_for("quick", temperature=7))
    body["model_config"]["max_tokens"] = "sk-test-secret-key-123"
    response = await sidecar.client.call("createSession", json=body)
    assert response.status_code == status_for("createSession", "invalid")
    details = _errors_ok(response)["details"]
    assert details["field"].startswith("model_config.")
    assert {v["field"] for v in details["violations"]} == {
        "model_config.temperature",
        "model_config.max_tokens",
    }
    assert "sk-test-secret-key-123" not in response.text


async def test_bad_json_wrong_type_and_oversized_bodies(sidecar: Sidecar) -> None:
    path = operation("createSession").path
    http = sidecar.client.http
    bad_json = await http.post(path, content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == status_for("createSession", "invalid")
    _errors_ok(bad_json)
    wrong_type = await http.post(path, content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == status_for("createSession", "unsupported_media_type")
    _errors_ok(wrong_type)
    big = b'{"prompt": "' + b"x" * (sidecar.config.max_body_bytes + 10) + b'"}'
    oversized = await http.post(path, content=big, headers={"Content-Type": "application/json"})
    assert oversized.status_code == status_for("createSession", "too_large")
    _errors_ok(oversized)


async def test_aiohttp_errors_are_json_too(sidecar: Sidecar) -> None:
    unknown = await sidecar.client.http.get("/nowhere")
    assert unknown.status_code == 404
    _errors_ok(unknown)
    wrong_method = await sidecar.client.http.put("/sessions")
    assert wrong_method.status_code == 405
    assert "POST" in _errors_ok(wrong_method)["details"]["allowed"]


async def test_status_404_and_malformed_ids(sidecar: Sidecar) -> None:
    unknown = await sidecar.client.status(str(uuid.uuid4()))
    assert unknown.status_code == status_for("getSessionStatus", "not_found")
    _errors_ok(unknown)
    for op_id, response in (
        ("getSessionStatus", await sidecar.client.status("nope")),
        ("cancelSession", await sidecar.client.cancel("nope")),
        ("streamSession", await sidecar.client.http.get("/sessions/nope/stream")),
    ):
        assert response.status_code == status_for(op_id, "invalid")
        _errors_ok(response)


async def test_concurrency_limit_answers_503_with_retry_after(sidecar: Sidecar) -> None:
    running = [await sidecar.start("long_running") for _ in range(3)]
    refused = await sidecar.client.create_session(
        str(uuid.uuid4()), "x", sidecar.config_for("long_running")
    )
    assert refused.status_code == status_for("createSession", "limit_reached")
    assert refused.headers["Retry-After"] == str(sidecar.config.retry_after)
    assert _errors_ok(refused)["details"] == {"limit": 3}
    await sidecar.client.cancel(running[0])
    await sidecar.start("long_running")


async def test_cancel_then_cancel_again_then_cancel_finished(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("long_running")
    first = await sidecar.client.cancel(session_id)
    assert first.status_code == status_for("cancelSession", "cancelled")
    assert contract.validate_component("SessionCancelled", first.json()) == []
    second = await sidecar.client.cancel(session_id)
    assert second.json() == first.json()
    done = await sidecar.start("quick")
    for _ in range(100):
        if (await sidecar.client.status(done)).json()["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    finished = await sidecar.client.cancel(done)
    assert finished.status_code == status_for("cancelSession", "already_finished")
    assert _errors_ok(finished)["details"] == {"status": "completed"}
    assert (await sidecar.client.cancel(str(uuid.uuid4()))).status_code == 404


async def test_shared_secret_guards_everything_but_probes(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar(shared_secret="s3cret")
    anonymous = httpx.AsyncClient(base_url=sidecar.url)
    try:
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/ready")).status_code == 200
        for path in ("/metrics", f"/sessions/{uuid.uuid4()}/status"):
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "s3cret"}):
                response = await anonymous.get(path, headers=headers)
                assert response.status_code == 401
                assert _errors_ok(response)["error"] == "unauthorized"
        assert (await sidecar.client.metrics()).status_code == 200
    finally:
        await anonymous.aclose()


async def test_request_id_is_echoed_or_minted(sidecar: Sidecar) -> None:
    echoed = await sidecar.client.http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    unsafe = await sidecar.client.http.get("/healthz", headers={"X-Request-ID": "a b"})
    assert unsafe.headers["X-Request-ID"] != "a b"


async def test_metrics_parse_and_move(sidecar: Sidecar) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def samples(text: str) -> dict[str, float]:
        return {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if not s.labels
        }

    before = samples((await sidecar.client.metrics()).text)
    await sidecar.start("quick")
    after = samples((await sidecar.client.metrics()).text)
    assert after["opencode_sessions_created_total"] == before["opencode_sessions_created_total"] + 1

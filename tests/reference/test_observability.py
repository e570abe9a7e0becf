"""/metrics (families from the contract, moving as sessions run) and the shared secret on
every route of the reference, over a real socket."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from contract import metric_families, metric_family, operations, status_for
from suites.clientkit.client import session_body
from suites.clientkit.metrics import parse_families
from suites.clientkit.waiting import until
from tests.reference.conftest import Sidecar


async def scrape(sidecar: Sidecar) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await sidecar.client.metrics()
    assert response.status_code == 200
    families = parse_families(response.text)
    for expected in metric_families():
        assert families[expected.name].type == expected.type, expected.name
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }


def value(metrics: dict[Any, float], key: str, suffix: str = "", **labels: str) -> float:
    name = metric_family(key).name + suffix
    return sum(v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= set(ls))


async def read_stream(sidecar: Sidecar, session_id: str) -> int:
    async with sidecar.client.open_stream(session_id) as stream:
        return len([e async for e in sidecar.client.events(stream) if e.id is not None])


async def test_metrics_move_as_sessions_run(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar(heartbeat_interval=0.2)
    before = await scrape(sidecar)
    done = await sidecar.start("hello_write")
    events = await read_stream(sidecar, done)
    failed = await sidecar.start("model_500")
    await read_stream(sidecar, failed)
    stalled = await sidecar.start("model_stall")
    async with sidecar.client.open_stream(stalled) as stream:
        async for event in sidecar.client.events(stream):
            if event.event == "heartbeat":
                break
    await sidecar.client.cancel(stalled)

    async def settled() -> dict[Any, float] | None:
        metrics = await scrape(sidecar)
        idle = value(metrics, "sessions_active") == value(metrics, "streams_active") == 0
        return metrics if idle else None

    after = await until(settled, 10.0, "no session or stream active after the cancel")

    def grew(key: str, suffix: str = "_total", **labels: str) -> float:
        return value(after, key, suffix, **labels) - value(before, key, suffix, **labels)

    assert grew("sessions_created") == 3
    assert grew("sessions_finished", status="completed") == 1
    assert grew("sessions_finished", status="failed") == 1
    assert grew("sessions_finished", status="cancelled") == 1
    assert grew("events_emitted") >= events
    assert grew("events_emitted", event="tool_call") >= 1
    assert grew("runtime_errors", code="model_error") == 1
    assert grew("heartbeats_sent") >= 1
    assert value(after, "sessions_active") == 0
    assert value(after, "streams_active") == 0
    assert grew("request_seconds", "_count", route="createSession", method="POST") == 3
    # the success-rate families (profile operable)
    assert grew("session_seconds", "_count", status="completed") == 1
    assert grew("session_seconds", "_count", status="failed") == 1
    assert grew("session_seconds", "_count", status="cancelled") == 1
    assert grew("session_seconds", "_sum") > 0
    assert grew("first_event_seconds", "_count") == 3  # each reported progress first
    assert grew("model_call_seconds", "_count", outcome="ok") >= 2  # hello_write: 2 turns
    assert grew("model_call_seconds", "_count", outcome="model_error") == 1  # model_500
    assert grew("tool_call_seconds", "_count", tool="write", outcome="ok") == 1


async def test_tool_errors_and_unfinished_tools_are_counted(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar()
    before = await scrape(sidecar)
    failing = await sidecar.start("tool_error")
    await read_stream(sidecar, failing)
    running = await sidecar.start("long_running")  # a bash call still running when cancelled
    async with sidecar.client.open_stream(running) as stream:
        async for event in sidecar.client.events(stream):
            if event.event == "tool_call":
                break
    await sidecar.client.cancel(running)
    family = metric_family("tool_call_seconds").name + "_count"

    async def outcomes() -> set[str]:
        after = await scrape(sidecar)
        return {
            dict(labels)["outcome"]
            for (name, labels), count in after.items()
            if name == family and count > before.get((name, labels), 0.0)
        }

    async def both_counted() -> set[str] | None:
        seen = await outcomes()
        return seen if seen >= {"error", "unfinished"} else None

    await until(both_counted, 10.0, "the failed and the unfinished tool call counted")
    assert await outcomes() == {"error", "unfinished"}


async def test_every_non_probe_route_needs_the_token(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar(shared_secret="s3cret-value")
    session_id = await sidecar.start("long_running")
    body = session_body(str(uuid.uuid4()), "x", sidecar.config_for("quick"))
    async with httpx.AsyncClient(base_url=sidecar.url) as anonymous:
        for op in operations().values():
            path = op.url_path_with(session_id)
            for auth in (
                {},
                {"Authorization": "bearer s3cret-valuE"},
                {"Authorization": "Basic x"},
            ):
                response = await anonymous.request(
                    op.method, path, headers=auth, json=body if op.method == "POST" else None
                )
                if op.public:
                    assert response.status_code != 401
                else:
                    assert response.status_code == status_for(op.operation_id, "unauthorized")
                    assert response.json()["error"] == "unauthorized"
        lowercase = await anonymous.get(
            f"/sessions/{session_id}/status", headers={"Authorization": "bearer  s3cret-value"}
        )
        assert lowercase.status_code == 200  # RFC 9110: the scheme is case-insensitive
    await sidecar.client.cancel(session_id)


async def test_metrics_can_be_public(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar(shared_secret="s3cret", metrics_require_auth=False)
    async with httpx.AsyncClient(base_url=sidecar.url) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 200
        unknown = f"/sessions/{uuid.uuid4()}/status"
        assert (await anonymous.get(unknown)).status_code == 401

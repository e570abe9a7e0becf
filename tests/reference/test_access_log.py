"""The reference's access log and request counter tell the status actually sent, on every
path (refusals raised through the error path were logged 500); a 400 names the field that
is wrong; a client's garbage (a NUL byte in a header) is no error-level traceback."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import metric_family, status_for
from reference_server.logs import filter_client_garbage
from suites.clientkit.client import session_body
from tests.reference.conftest import Sidecar

SECRET = "s3cret-value"
ACCESS_LOGGER = "reference_server.http"

Call = Callable[[Sidecar, httpx.AsyncClient], Awaitable[httpx.Response]]


async def _unauthorized(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    return await c.post("/sessions", json={})


async def _invalid(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    return await c.post("/sessions", json={"prompt": "x"}, headers=_auth())


async def _not_found(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    return await c.get(f"/sessions/{uuid.uuid4()}/status", headers=_auth())


async def _too_large(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    body = b'{"prompt": "' + b"x" * (s.config.max_body_bytes + 1) + b'"}'
    headers = {**_auth(), "Content-Type": "application/json"}
    return await c.post("/sessions", content=body, headers=headers)


async def _unsupported(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    return await c.post("/sessions", content=b"x", headers={**_auth(), "Content-Type": "text/x"})


async def _duplicate(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    session_id = await s.start("long_running")
    body = session_body(session_id, "again", s.config_for("quick"))
    try:
        return await c.post("/sessions", json=body, headers=_auth())
    finally:
        await s.client.cancel(session_id)


async def _created(s: Sidecar, c: httpx.AsyncClient) -> httpx.Response:
    body = session_body(str(uuid.uuid4()), "hi", s.config_for("quick"))
    return await c.post("/sessions", json=body, headers=_auth())


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRET}"}


OUTCOMES: list[tuple[str, str, str, Call]] = [
    ("createSession", "created", "createSession", _created),
    ("createSession", "unauthorized", "createSession", _unauthorized),
    ("createSession", "invalid", "createSession", _invalid),
    ("getSessionStatus", "not_found", "getSessionStatus", _not_found),
    ("createSession", "too_large", "createSession", _too_large),
    ("createSession", "unsupported_media_type", "createSession", _unsupported),
    ("createSession", "duplicate", "createSession", _duplicate),
]


def _requests_counted(text: str, route: str, status: int) -> float:
    name = metric_family("requests").name
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == name
        for s in f.samples
        if s.labels.get("route") == route and s.labels.get("status") == str(status)
    )


@pytest.mark.parametrize(("op", "outcome", "route", "call"), OUTCOMES, ids=[o[1] for o in OUTCOMES])
async def test_access_log_and_counter_record_the_status_sent(
    make_sidecar: Any,
    caplog: pytest.LogCaptureFixture,
    op: str,
    outcome: str,
    route: str,
    call: Call,
) -> None:
    sidecar: Sidecar = await make_sidecar(shared_secret=SECRET)
    before = (await sidecar.client.metrics()).text
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        async with httpx.AsyncClient(base_url=sidecar.url) as client:
            response = await call(sidecar, client)
    expected = status_for(op, outcome)
    assert response.status_code == expected, response.text
    logged = [r for r in caplog.records if r.name == ACCESS_LOGGER and r.getMessage() == "request"]
    mine = [r for r in logged if r.method == response.request.method]
    assert [r.status for r in mine][-1:] == [expected]
    assert not [r for r in logged if r.status == 500]
    after = (await sidecar.client.metrics()).text
    grew = _requests_counted(after, route, expected) - _requests_counted(before, route, expected)
    assert grew >= 1


async def test_unmatched_route_is_logged_and_counted_404(
    make_sidecar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sidecar: Sidecar = await make_sidecar()
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        async with httpx.AsyncClient(base_url=sidecar.url) as client:
            assert (await client.get("/no/such/route")).status_code == 404
    assert [r.status for r in caplog.records if r.name == ACCESS_LOGGER] == [404]
    assert _requests_counted((await sidecar.client.metrics()).text, "unmatched", 404) == 1


async def test_missing_model_config_is_named(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar()
    async with httpx.AsyncClient(base_url=sidecar.url) as client:
        response = await client.post("/sessions", json={"prompt": "x"})
    assert response.status_code == status_for("createSession", "invalid")
    details = response.json()["details"]
    fields = {v["field"] for v in details["violations"]}
    assert fields == {"model_config", "session_id"}
    assert details["field"] in fields
    for v in details["violations"]:
        assert repr(v["field"]) in v["reason"]  # each violation names its own field


async def test_nul_byte_in_a_header_is_no_error_traceback(
    make_sidecar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    filter_client_garbage()
    sidecar: Sidecar = await make_sidecar()
    where = urlsplit(sidecar.url)
    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n")
        await writer.drain()
        answer = await reader.read(200)
        writer.close()
        await asyncio.sleep(0.1)
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    refused = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert refused and all(r.status == 400 for r in refused)

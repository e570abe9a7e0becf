"""The event stream of the reference: order, ids, replay, resume, fan-out, heartbeats,
cancel, timeout, failure, and clients that vanish."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

import contract
from contract import metric_family, status_for, stream_rules
from suites.clientkit.metrics import parse_families, unlabelled
from suites.clientkit.sse import SSEEvent
from suites.clientkit.waiting import until
from tests.reference.conftest import Sidecar


async def read_all(sidecar: Sidecar, session_id: str, last_id: int | None = None) -> list[SSEEvent]:
    async with sidecar.client.open_stream(session_id, last_id, read_timeout=10) as stream:
        assert stream.response.status_code == 200
        return [e async for e in sidecar.client.events(stream)]


def history(events: list[SSEEvent]) -> list[tuple[str | None, str, Any]]:
    return [(e.id, e.event, json.loads(e.data)) for e in events if e.event != "heartbeat"]


async def test_hello_write_stream_follows_the_rules(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("hello_write")
    events = [e for e in await read_all(sidecar, session_id) if e.event != "heartbeat"]
    kinds = [e.event for e in events]
    assert kinds[0] == "status" and kinds[-1] == "complete"
    assert "tool_call" in kinds and "tool_result" in kinds
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    for event in events:
        assert contract.validate_event(event.event, event.data) == [], event
    complete = json.loads(events[-1].data)
    assert complete["files_modified"] == ["hello.txt"]
    written = sidecar.config.workspace_dir / session_id / "hello.txt"
    assert written.read_text() == "hello world\n"
    status = (await sidecar.client.status(session_id)).json()
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["last_event_id"] == int(events[-1].id or 0)
    assert status["files_modified"] == ["hello.txt"]


async def test_late_subscriber_replays_and_resume_is_exact(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("chatty")
    live = history(await read_all(sidecar, session_id))
    replay = history(await read_all(sidecar, session_id))
    assert live == replay and len(live) > 20
    for after in (0, 1, 7, len(live) - 1):
        resumed = history(await read_all(sidecar, session_id, after))
        assert resumed == live[after:]
    async with sidecar.client.open_stream(session_id, len(live)) as stream:
        assert stream.response.status_code == status_for("streamSession", "nothing_after")


async def test_resume_after_a_forced_disconnect_mid_run(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("long_running")
    seen: list[SSEEvent] = []
    async with sidecar.client.open_stream(session_id) as stream:
        async for event in sidecar.client.events(stream):
            if event.event != "heartbeat":
                seen.append(event)
            if len(seen) == 3:
                break
    await sidecar.client.cancel(session_id)
    rest = await read_all(sidecar, session_id, int(seen[-1].id or 0))
    full = await read_all(sidecar, session_id)
    assert history(seen) + history(rest) == history(full)


async def test_bad_last_event_ids(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("quick")
    for bad in ("x", "-1", "1e3", "9" * 19, "99999"):
        async with sidecar.client.open_stream(session_id, bad) as stream:
            await stream.response.aread()
            assert stream.response.status_code == 400, bad
            assert contract.validate_component("Error", stream.response.json()) == []


async def test_two_subscribers_get_the_same_events(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("chatty")
    first, second = await asyncio.gather(
        read_all(sidecar, session_id), read_all(sidecar, session_id)
    )
    assert history(first) == history(second)


async def test_heartbeats_carry_no_id_and_do_not_enter_the_history(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("model_stall")
    beats: list[SSEEvent] = []
    async with sidecar.client.open_stream(session_id) as stream:
        async for event in sidecar.client.events(stream):
            if event.event == stream_rules().heartbeat_event:
                beats.append(event)
            if len(beats) == 2:
                break
        assert stream.parser.retry == stream_rules().retry_hint_ms
    assert all(b.id is None and json.loads(b.data) == {} for b in beats)
    await sidecar.client.cancel(session_id)
    assert all(e.event != "heartbeat" for e in await read_all(sidecar, session_id))


async def streams_active(sidecar: Sidecar, count: int) -> bool:
    """Whether the streams gauge of /metrics reads ``count``."""
    families = parse_families((await sidecar.client.metrics()).text)
    return unlabelled(families).get(metric_family("streams_active").name) == count


async def test_cancel_ends_every_stream_with_cancelled(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("long_running")
    readers = [asyncio.create_task(read_all(sidecar, session_id)) for _ in range(2)]
    await until(lambda: streams_active(sidecar, 2), 10.0, "both readers attached")
    assert (await sidecar.client.cancel(session_id)).status_code == 200
    for events in await asyncio.gather(*readers):
        last = history(events)[-1]
        assert last[1] == "status" and last[2]["status"] == "cancelled"
    status = (await sidecar.client.status(session_id)).json()
    assert status["status"] == "cancelled" and status["current_tool"] is None


async def test_timeout_ends_with_a_timeout_error(make_sidecar: Any) -> None:
    sidecar: Sidecar = await make_sidecar(session_timeout=0.5)
    session_id = await sidecar.start("model_stall")
    last = history(await read_all(sidecar, session_id))[-1]
    assert last[1] == "error" and last[2]["fatal"] is True and last[2]["code"] == "timeout"
    status = (await sidecar.client.status(session_id)).json()
    assert status["status"] == "failed" and "SESSION_TIMEOUT" in status["error"]


@pytest.mark.parametrize("scenario", ["model_500", "malformed_stream"])
async def test_model_failures_end_with_a_fatal_error(sidecar: Sidecar, scenario: str) -> None:
    session_id = await sidecar.start(scenario)
    last = history(await read_all(sidecar, session_id))[-1]
    assert last[1] == "error" and last[2]["fatal"] is True
    assert (await sidecar.client.status(session_id)).json()["status"] == "failed"


async def test_unreachable_model_fails_the_session(sidecar: Sidecar) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sidecar.model_url = f"http://127.0.0.1:{port}/v1"
    session_id = await sidecar.start("quick")
    last = history(await read_all(sidecar, session_id))[-1]
    assert last[1] == "error" and last[2]["code"] == "model_unreachable"


async def test_200_clients_vanishing_mid_stream_log_no_traceback(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = await sidecar.start("long_running")
    parts = urlsplit(sidecar.url)
    request = (
        f"GET /sessions/{session_id}/stream HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()

    async def vanish(index: int) -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(request)
        await writer.drain()
        await reader.readuntil(b"\n\n")
        if index % 2:  # an abortive close (RST) for half of them
            sock = writer.get_extra_info("socket")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        writer.close()

    with caplog.at_level(logging.DEBUG):
        await asyncio.gather(*(vanish(i) for i in range(200)))
        # heartbeats (0.5 s) hit the dead sockets: each stream ends while the session runs
        await until(lambda: streams_active(sidecar, 0), 20.0, "every vanished stream closed")
        await sidecar.client.cancel(session_id)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == []

"""The WebSocket transport of the reference: the same log as SSE, resume, close codes,
heartbeats, and the answers before the upgrade."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest

import contract
from contract import status_for, stream_rules
from tests.reference.conftest import Sidecar
from tests.reference.test_stream import history, read_all

WS = stream_rules().websocket


async def read_ws(
    sidecar: Sidecar, session_id: str, first: Any = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame of the socket and its close code."""
    url = sidecar.url + contract.operation("websocketSession").url_path(session_id=session_id)
    frames: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_receive=10)) as ws,
    ):
        if first is not None:
            await ws.send_str(first if isinstance(first, str) else json.dumps(first))
        async for message in ws:
            assert message.type == aiohttp.WSMsgType.TEXT
            frames.append(json.loads(message.data))
        return frames, ws.close_code


def numbered(frames: list[dict[str, Any]]) -> list[tuple[str | None, str, Any]]:
    return [
        (str(f[WS.id_field]), f[WS.event_field], f[WS.data_field])
        for f in frames
        if f[WS.event_field] not in stream_rules().unnumbered_events
    ]


async def test_frames_are_the_sse_events_then_close_1000(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("hello_write")
    frames, code = await read_ws(sidecar, session_id)
    assert code == WS.close_after_terminal
    for frame in frames:
        assert contract.validate_ws_frame(frame) == [], frame
    sse = history(await read_all(sidecar, session_id))
    assert numbered(frames) == sse
    assert stream_rules().is_terminal(frames[-1][WS.event_field], frames[-1][WS.data_field])


async def test_resume_after_is_exact_and_after_terminal_sends_nothing(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("chatty")
    full = numbered((await read_ws(sidecar, session_id, WS.resume_message(0)))[0])
    for after in (1, 7, len(full) - 1):
        frames, code = await read_ws(sidecar, session_id, WS.resume_message(after))
        assert numbered(frames) == full[after:] and code == WS.close_after_terminal
    frames, code = await read_ws(sidecar, session_id, WS.resume_message(len(full)))
    assert frames == [] and code == WS.close_after_terminal


async def test_a_bad_resume_message_closes_1008(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("quick")
    for bad in ({WS.resume_field: -1}, {WS.resume_field: "3"}, {WS.resume_field: 10**6}, "[1"):
        frames, code = await read_ws(sidecar, session_id, bad)
        assert frames == [] and code == WS.close_bad_resume, bad


async def test_a_silent_session_gets_heartbeat_frames(sidecar: Sidecar) -> None:
    session_id = await sidecar.start("model_stall")
    url = sidecar.url + contract.operation("websocketSession").url_path(session_id=session_id)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        beats = []
        while len(beats) < 2:
            frame = json.loads((await ws.receive(timeout=5)).data)
            if frame[WS.event_field] == stream_rules().heartbeat_event:
                beats.append(frame)
    assert all(WS.id_field not in b and contract.validate_ws_frame(b) == [] for b in beats)
    await sidecar.client.cancel(session_id)


async def test_errors_come_before_the_upgrade(sidecar: Sidecar) -> None:
    op = contract.operation("websocketSession")
    async with aiohttp.ClientSession() as http:
        for session_id, outcome in ((str(uuid.uuid4()), "not_found"), ("x-1", "invalid")):
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await http.ws_connect(sidecar.url + op.url_path(session_id=session_id))
            assert caught.value.status == status_for(op.operation_id, outcome)
    session_id = await sidecar.start("quick")
    plain = await sidecar.client.http.get(op.url_path(session_id=session_id))
    assert plain.status_code == status_for(op.operation_id, "upgrade_required")
    assert contract.validate_component("Error", plain.json()) == []

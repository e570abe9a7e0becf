"""The model relay forwards each slot to its session's model, on real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from fakes.model_server import ModelServer
from reference_server.runtime import ModelConfig
from reference_server.runtimes.model_relay import PROVIDER_ID, ModelRelay

KEY = "sk-relay-test-key-7"


@pytest.fixture
async def relay() -> AsyncIterator[ModelRelay]:
    relay = ModelRelay(slots=2, read_timeout=5)
    await relay.start()
    yield relay
    await relay.close()


async def ask(relay: ModelRelay, slot: str, token: str | None = None) -> aiohttp.ClientResponse:
    body = {
        "model": slot,
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"type": "function", "function": {"name": "read", "parameters": {}}}],
    }
    headers = {"Authorization": f"Bearer {token or relay.token}"}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{relay.url}/chat/completions", json=body, headers=headers)
        await response.read()
        return response


async def test_a_slot_reaches_its_sessions_model_with_its_key(
    relay: ModelRelay, model_server: ModelServer
) -> None:
    lease = relay.lease(ModelConfig("openai", "quick", KEY, api_endpoint=model_server.url))
    response = await ask(relay, lease.slot)
    assert response.status == 200
    [seen] = model_server.recorder.for_model("quick")
    assert seen.authorization == f"Bearer {KEY}"
    assert lease.failure is None


async def test_temperature_and_max_tokens_are_the_sessions(
    relay: ModelRelay, model_server: ModelServer
) -> None:
    config = ModelConfig(
        "openai", "quick", KEY, temperature=0.2, max_tokens=64, api_endpoint=model_server.url
    )
    lease = relay.lease(config)
    await ask(relay, lease.slot)
    [seen] = model_server.recorder.for_model("quick")
    assert (seen.temperature, seen.max_tokens) == (0.2, 64)


async def test_a_model_error_is_recorded_without_the_key(
    relay: ModelRelay, model_server: ModelServer
) -> None:
    lease = relay.lease(
        ModelConfig(
            "openai", "model_500", KEY, enabled_tools=("read",), api_endpoint=model_server.url
        )
    )
    response = await ask(relay, lease.slot)
    assert response.status == 500
    assert lease.failure is not None
    assert lease.failure.code == "model_error"
    assert "HTTP 500" in lease.failure.message
    assert KEY not in lease.failure.message


async def test_an_unreachable_endpoint_is_model_unreachable(relay: ModelRelay) -> None:
    lease = relay.lease(ModelConfig("openai", "quick", KEY, api_endpoint="http://127.0.0.1:9/v1"))
    response = await ask(relay, lease.slot)
    assert response.status == 502
    assert lease.failure is not None
    assert lease.failure.code == "model_unreachable"


async def test_strangers_and_unleased_slots_are_refused(relay: ModelRelay) -> None:
    lease = relay.lease(ModelConfig("openai", "quick", KEY, api_endpoint="http://127.0.0.1:9/v1"))
    assert (await ask(relay, lease.slot, token="guess")).status == 401
    relay.release(lease)
    assert (await ask(relay, lease.slot)).status == 404


def test_slots_are_leased_least_recently_used_first_and_run_out() -> None:
    relay = ModelRelay(slots=2, read_timeout=5)
    config = ModelConfig("openai", "quick", KEY)
    first, second = relay.lease(config), relay.lease(config)
    assert {first.slot, second.slot} == {"slot-0", "slot-1"}
    with pytest.raises(RuntimeError, match="no free model slot"):
        relay.lease(config)
    relay.release(first)
    relay.release(second)
    assert relay.lease(config).slot == first.slot
    models = relay.provider_config()[PROVIDER_ID]["models"]
    assert sorted(models) == ["slot-0", "slot-1"]


def test_the_model_is_offered_only_the_enabled_tools() -> None:
    from reference_server.runtimes.model_relay import only_enabled_tools

    def tool(name: str) -> dict[str, object]:
        return {"type": "function", "function": {"name": name, "parameters": {}}}

    body = {"model": "m", "tools": [tool("read"), tool("glob"), tool("invalid")]}
    assert only_enabled_tools(body, ("read",))["tools"] == [tool("read")]
    none = only_enabled_tools({**body, "tool_choice": "auto"}, ("bash",))
    assert "tools" not in none and "tool_choice" not in none


def test_the_stream_watch_names_malformed_chunks_and_error_objects() -> None:
    from reference_server.runtimes.model_relay import StreamWatch

    ok = StreamWatch()
    assert ok.feed(b'data: {"choices": []}\n\nda') is None
    assert ok.feed(b"ta: [DONE]\n\n") is None
    broken = StreamWatch()
    assert broken.feed(b"data: {not json") is None  # the line is not complete yet
    failure = broken.feed(b"\n\n")
    assert failure is not None and failure.code == "model_protocol_error"
    erred = StreamWatch().feed(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert erred is not None and erred.code == "model_error"


async def test_each_request_is_in_the_leasing_sessions_trace_and_observed(
    relay: ModelRelay, model_server: ModelServer
) -> None:
    """The lease keeps the trace context of the session that took it (its run); the relayed
    request carries it as traceparent (the relay's own requests come from OpenCode, in no
    trace), and the session's sink is told each request's outcome."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    session_trace = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    observed: list[tuple[str, float]] = []
    token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(session_trace)))
    try:
        ok = relay.lease(
            ModelConfig("openai", "quick", KEY, api_endpoint=model_server.url),
            "session-a",
            lambda outcome, seconds: observed.append((outcome, seconds)),
        )
    finally:
        otel_context.detach(token)
    failing = relay.lease(
        ModelConfig(
            "openai", "model_500", KEY, enabled_tools=("read",), api_endpoint=model_server.url
        ),
        "session-b",
        lambda outcome, seconds: observed.append((outcome, seconds)),
    )
    await ask(relay, ok.slot)
    await ask(relay, failing.slot)
    [seen] = model_server.recorder.for_model("quick")
    assert seen.audit is not None and seen.audit.traceparent is not None
    assert seen.audit.traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert [outcome for outcome, _ in observed] == ["ok", "model_error"]
    assert all(seconds >= 0 for _, seconds in observed)

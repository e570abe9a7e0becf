"""What both dialects of the fake model share: the scenarios and the recorder on the app,
the recorded request, and what a request lacks for its scenario (``unmet_needs``); moved
out of ``model_server`` so that the OpenAI-compatible and the Anthropic endpoints import it
and not each other."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes.model_audit import Audit
from fakes.scenarios import Scenario

RECORD_LIMIT = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[str]
    stream: bool
    authorization: str | None
    path: str
    received_at: float
    temperature: float | None = None
    max_tokens: int | None = None
    audit: Audit | None = None
    """The request read with the contract's rules (key, prompts, declared tools, problems)."""


class Recorder:
    """The last :data:`RECORD_LIMIT` requests, newest last."""

    def __init__(self) -> None:
        self.requests: deque[RecordedRequest] = deque(maxlen=RECORD_LIMIT)

    def for_model(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]


scenarios_key = web.AppKey("scenarios", dict[str, Scenario])
recorder_key = web.AppKey("recorder", Recorder)


def unmet_needs(scenario: Scenario, *, stream: bool, tools: bool) -> str | None:
    """One line saying what the request lacks for ``scenario`` to behave, or ``None``."""
    if scenario.needs_stream and not stream:
        return (
            f'scenario {scenario.id} needs "stream": true (its fault happens mid-stream); '
            "this request does not stream"
        )
    if scenario.needed_tools and not tools:
        return (
            f"scenario {scenario.id} needs a tools array (it calls "
            f"{', '.join(scenario.needed_tools)}); this request declares no tools"
        )
    return None

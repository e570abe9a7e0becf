"""``SidecarClient``: exactly the calls the backend makes to a sidecar (httpx, sync + async).

Paths come from the contract's operations; nothing here restates a route. Each call is
built once, as a :class:`Call`, for both clients. Methods return the raw ``httpx.Response``
so verifiers can judge any answer; ``open_stream`` yields an :class:`EventStream` whose
body the strict SSE parser reads (``read_events``, ``collect``; async: ``events``).

    with SidecarClient("http://127.0.0.1:3003", secret="s") as client:
        client.create_session(session_id, "Write hello.txt", model_config(...))
        with client.open_stream(session_id) as stream:
            for event in client.read_events(stream):
                ...
"""

from __future__ import annotations

import functools
import shlex
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Set
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from contract import operation, status_for, stream_rules
from suites.clientkit.reproduce_body import large_body
from suites.clientkit.sse import SSEEvent, SSEParser

DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=30.0)


def model_config(
    scenario: str,
    api_endpoint: str,
    api_key: str = "sk-test-not-a-real-key",
    *,
    provider: str = "openai",
    enabled_tools: tuple[str, ...] = ("read", "write", "bash", "edit"),
    **extra: Any,
) -> dict[str, Any]:
    """A ``model_config`` that makes a sidecar play ``scenario`` of the fake model server."""
    return {
        "provider": provider,
        "model": scenario,
        "api_key": api_key,
        "temperature": 0,
        "max_tokens": 1024,
        "enabled_tools": list(enabled_tools),
        "api_endpoint": api_endpoint,
        **extra,
    }


def session_body(
    session_id: str, prompt: str, config: Mapping[str, Any], system_prompt: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_id": session_id,
        "prompt": prompt,
        "model_config": dict(config),
    }
    if system_prompt is not None:
        body["system_prompt"] = system_prompt
    return body


SECRET_ENV = "OPENCODE_SHARED_SECRET"
"""Reproduce lines read the shared secret from this environment variable."""
REDACT_EXTENSION = "opencode_sidecar.redact"
"""``httpx`` request extension holding the secret to keep out of reproduce lines."""
_NOT_REPRODUCED = ("host", "content-length", "accept-encoding", "connection", "user-agent")


def _quoted(text: str, secret: str | None) -> str:
    """``text`` quoted for a POSIX shell, each occurrence of ``secret`` as
    ``"$OPENCODE_SHARED_SECRET"`` (expanded by the shell); nothing else is masked."""
    if not secret or secret not in text:
        return shlex.quote(text)
    pieces = text.split(secret)
    env = f'"${SECRET_ENV}"'
    return env.join(shlex.quote(p) if p else "" for p in pieces)


def to_curl(request: httpx.Request, secret: str | None = None) -> str:
    """A curl command that reproduces ``request`` as sent; the shared secret (``secret``, or
    the one the sending :class:`SidecarClient` knows) reads ``$OPENCODE_SHARED_SECRET``."""
    secret = secret or request.extensions.get(REDACT_EXTENSION)
    parts = ["curl", "-sS", "-X", request.method]
    for name, value in request.headers.items():
        if name.lower() not in _NOT_REPRODUCED:
            parts += ["-H", _quoted(f"{name}: {value}", secret)]
    content = request.content
    # a large body holding the secret stays inline: it must never reach a file or a pipe
    large = large_body(content) if not (secret and secret.encode() in content) else None
    if large is not None:
        parts += ["--data-binary", large.source]
    elif content:
        parts += ["--data-binary", _quoted(content.decode("utf-8", "replace"), secret)]
    if stream_rules().media_type in request.headers.get("accept", ""):
        parts.insert(1, "-N")
    parts.append(_quoted(str(request.url), secret))
    return (large.pipe if large else "") + " ".join(parts)


@dataclass
class EventStream:
    """An open SSE response and what has been parsed from it so far."""

    response: httpx.Response
    parser: SSEParser = field(default_factory=SSEParser)
    events: list[SSEEvent] = field(default_factory=list)
    ended: bool = False
    """True once the server closed the stream."""
    _chunks: Iterator[bytes] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The body's raw chunks; one iterator per stream, so reads can be resumed."""
        if self._chunks is None:
            self._chunks = self.response.iter_raw()
        return self._chunks


@dataclass(frozen=True)
class Call:
    """One request a client makes, as data: built once for the sync and the async client."""

    operation_id: str
    path: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None

    @property
    def method(self) -> str:
        return operation(self.operation_id).method

    @property
    def url_path(self) -> str:
        return operation(self.operation_id).url_path(**self.path)

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.(Async)Client.request`` / ``.stream``."""
        extra: dict[str, Any] = {"headers": dict(self.headers)} if self.headers else {}
        if self.json is not None:
            extra["json"] = self.json
        if self.timeout is not None:
            extra["timeout"] = self.timeout
        return extra


def stream_call(
    session_id: str, last_event_id: str | int | None = None, read_timeout: float = 30.0
) -> Call:
    """The backend's stream request (``Accept`` the stream, resume after an id)."""
    rules = stream_rules()
    headers = {"Accept": rules.media_type}
    if last_event_id is not None:
        headers[rules.resume_header] = str(last_event_id)
    return Call(
        "streamSession",
        {"session_id": session_id},
        headers=headers,
        timeout=httpx.Timeout(10.0, read=read_timeout),
    )


R = TypeVar("R")


class _Calls(Generic[R]):
    """Exactly the calls the backend makes; ``R`` is a response (sync) or an awaitable one
    (async), so one set of methods serves both clients."""

    def send(self, call: Call) -> R:
        raise NotImplementedError

    def call(
        self, operation_id: str, *, json: Any = None, path: Mapping[str, str] | None = None
    ) -> R:
        """Call a contract operation by id (path parameters in ``path``)."""
        return self.send(Call(operation_id, path or {}, json))

    def liveness(self) -> R:
        return self.call("getLiveness")

    def health(self) -> R:
        return self.call("getHealth")

    def readiness(self) -> R:
        return self.call("getReadiness")

    def metrics(self) -> R:
        return self.call("getMetrics")

    def create_session(
        self,
        session_id: str,
        prompt: str,
        config: Mapping[str, Any],
        system_prompt: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> R:
        """``headers``: extra request headers (e.g. the backend's ``traceparent``)."""
        body = session_body(session_id, prompt, config, system_prompt)
        return self.send(Call("createSession", json=body, headers=headers or {}))

    def status(self, session_id: str) -> R:
        return self.call("getSessionStatus", path={"session_id": session_id})

    def cancel(self, session_id: str) -> R:
        return self.call("cancelSession", path={"session_id": session_id})


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification context, built once per process: a client building its
    own loads the CA bundle again (~30 ms of CPU, and a verify run makes several)."""
    return httpx.create_ssl_context()


def _auth(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


class SidecarClient(_Calls[httpx.Response]):
    """Synchronous client (Hypothesis rules and pytest checks are synchronous)."""

    def __init__(
        self,
        base_url: str,
        secret: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        redact: str | None = None,
    ) -> None:
        """``redact``: a secret this client does not send but must keep out of reproduce
        lines (an anonymous client of a target with a secret); default ``secret``."""
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        hide = redact or secret

        def mark(request: httpx.Request) -> None:
            if hide:
                request.extensions[REDACT_EXTENSION] = hide

        self.http = httpx.Client(
            base_url=self.base_url,
            headers=_auth(secret),
            timeout=timeout,
            transport=transport,
            verify=tls_context(),
            event_hooks={"request": [mark]},
        )

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call) -> httpx.Response:
        return self.http.request(call.method, call.url_path, **call.options())

    def wait_for_status(
        self, session_id: str, statuses: Set[str], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll the status endpoint until its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.status(session_id).json()
            if body.get("status") in statuses or time.monotonic() > deadline:
                return body
            time.sleep(0.05)

    @contextmanager
    def open_stream(
        self, session_id: str, last_event_id: str | int | None = None, read_timeout: float = 30.0
    ) -> Iterator[EventStream]:
        """Open the session's stream (any status code; check ``.response``)."""
        call = stream_call(session_id, last_event_id, read_timeout)
        with self.http.stream(call.method, call.url_path, **call.options()) as response:
            yield EventStream(response)

    def read_events(
        self, stream: EventStream, limit: int | None = None, until_idle: float | None = None
    ) -> list[SSEEvent]:
        """Read events (all, or until ``limit`` new ones); returns the new events."""
        new: list[SSEEvent] = []
        for chunk in stream.chunks():
            for event in stream.parser.feed(chunk):
                stream.events.append(event)
                new.append(event)
            if limit is not None and len(new) >= limit:
                return new
        for event in stream.parser.close():
            stream.events.append(event)
            new.append(event)
        stream.ended = True
        return new

    def collect(
        self, session_id: str, last_event_id: str | int | None = None, read_timeout: float = 30.0
    ) -> EventStream:
        """Read a whole stream to its end (the session must finish)."""
        with self.open_stream(session_id, last_event_id, read_timeout) as stream:
            if stream.response.status_code == status_for("streamSession", "stream"):
                self.read_events(stream)
            else:
                stream.response.read()
            return stream


class AsyncSidecarClient(_Calls[Awaitable[httpx.Response]]):
    """Asynchronous client with the same calls (for load tests and async backends)."""

    def __init__(
        self,
        base_url: str,
        secret: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_auth(secret),
            timeout=timeout,
            transport=transport,
            verify=tls_context(),
        )

    async def __aenter__(self) -> AsyncSidecarClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def send(self, call: Call) -> Awaitable[httpx.Response]:
        return self.http.request(call.method, call.url_path, **call.options())

    @asynccontextmanager
    async def open_stream(
        self, session_id: str, last_event_id: str | int | None = None, read_timeout: float = 30.0
    ) -> AsyncIterator[EventStream]:
        call = stream_call(session_id, last_event_id, read_timeout)
        async with self.http.stream(call.method, call.url_path, **call.options()) as response:
            yield EventStream(response)

    async def events(self, stream: EventStream) -> AsyncIterator[SSEEvent]:
        """Yield events as they arrive until the server closes the stream."""
        async for chunk in stream.response.aiter_raw():
            for event in stream.parser.feed(chunk):
                stream.events.append(event)
                yield event
        for event in stream.parser.close():
            stream.events.append(event)
            yield event
        stream.ended = True

"""The stream seam (SSE and WebSocket) the test harness uses to build faulty sidecars.

The defaults *are* the contract; ``fakes.faults`` overrides one method per fault so that
the suites can prove they catch it. Production code never subclasses these.
"""

from __future__ import annotations

from contract import stream_rules
from reference_server.event_log import Event, encode_frame, encode_message
from reference_server.sessions import Session


class StreamFilter:
    """How one stream connection turns the log into bytes."""

    def __init__(self, session: Session, requested_after: int | None) -> None:
        self.session = session
        self.requested_after = requested_after

    @property
    def resumed(self) -> bool:
        return self.requested_after is not None

    def resume_after(self) -> int | None:
        """The id the stream resumes after (``None`` = from the start)."""
        return self.requested_after

    def preamble(self) -> bytes:
        """Bytes sent before the first event (the retry hint)."""
        return f"retry: {stream_rules().retry_hint_ms}\n\n".encode()

    def frames(self, event: Event) -> list[bytes]:
        """The bytes for one event of the log."""
        return [event.frame]

    def pieces(self, data: bytes) -> list[bytes]:
        """How bytes are split into writes (the contract: any split is valid)."""
        return [data]

    def heartbeat(self) -> bytes | None:
        """A heartbeat frame (no id), or ``None`` to send nothing."""
        rules = stream_rules()
        return encode_frame(rules.heartbeat_event, dict(rules.heartbeat_data), None)

    def after_terminal(self) -> list[bytes]:
        """Frames after the terminal event (the contract: none)."""
        return []

    def close_after_terminal(self) -> bool:
        """Whether to close the stream after the terminal event (the contract: yes)."""
        return True

    def closed(self) -> None:
        """The connection ended (either side)."""


class WebSocketFilter:
    """How one WebSocket connection turns the log into text frames."""

    def __init__(self, session: Session, requested_after: int | None) -> None:
        self.session = session
        self.requested_after = requested_after

    def resume_after(self) -> int | None:
        """The id the socket resumes after (``None`` = from the start)."""
        return self.requested_after

    def messages(self, event: Event) -> list[str]:
        """The text frames for one event of the log."""
        return [event.message]

    def heartbeat(self) -> str | None:
        """A heartbeat frame (no id), or ``None`` to send nothing."""
        rules = stream_rules()
        return encode_message(rules.heartbeat_event, rules.heartbeat_data, None)

    def close_code(self) -> int | None:
        """The close code after the terminal event (``None``: drop the TCP connection)."""
        return stream_rules().websocket.close_after_terminal

    def closed(self) -> None:
        """The connection ended (either side)."""


class StreamHooks:
    """Factory of per-connection filters, plus the response-level choices."""

    def response_headers(self) -> dict[str, str]:
        """Headers of a 200 stream response."""
        headers = dict(stream_rules().response_headers)
        headers["Content-Type"] += "; charset=utf-8"
        return headers

    def answer_nothing_after(self) -> bool:
        """Answer 204 when Last-Event-ID names the terminal event (the contract: yes)."""
        return True

    def open(self, session: Session, requested_after: int | None) -> StreamFilter:
        return StreamFilter(session, requested_after)

    def open_ws(self, session: Session, requested_after: int | None) -> WebSocketFilter:
        return WebSocketFilter(session, requested_after)

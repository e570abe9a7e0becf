"""Stream faults: per-connection filters and response-level hooks that break stream rules."""

from __future__ import annotations

from contract import stream_rules
from fakes.faults.kit import frame_with_text_id, reframe
from reference_server.event_log import Event
from reference_server.hooks import StreamFilter, StreamHooks
from reference_server.sessions import Session


# ------------------------------------------------------------------ stream filters
class DropIds(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        return [reframe(event, event_id=None)]


class TextIds(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        return [frame_with_text_id(event, f"evt-{event.id}")]


class HeartbeatWithId(StreamFilter):
    def heartbeat(self) -> bytes | None:
        return b"event: heartbeat\nid: 0\ndata: {}\n\n"


class NoHeartbeat(StreamFilter):
    def heartbeat(self) -> bytes | None:
        return None


class NoRetryHint(StreamFilter):
    def preamble(self) -> bytes:
        return b""


class EventWithoutData(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        return [event.frame, b"event: note\n\n"] if event.id == 1 else [event.frame]


class RenameOutput(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        return [reframe(event, name="stdout")] if event.event == "output" else [event.frame]


class DropToolCallTimestamp(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        if event.event != "tool_call":
            return [event.frame]
        return [reframe(event, data={k: v for k, v in event.data.items() if k != "timestamp"})]


class FirstEventIsOutput(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        if event.id != 1:
            return [event.frame]
        data = {"type": "stdout", "text": "starting", "timestamp": event.data["timestamp"]}
        return [reframe(event, name="output", data=data)]


class DropComplete(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        return [] if event.event == "complete" else [event.frame]


class DropCancelled(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        cancelled = stream_rules().cancel_data["status"]
        if event.event == stream_rules().cancel_event and event.data.get("status") == cancelled:
            return []
        return [event.frame]


class EventsAfterTerminal(StreamFilter):
    def after_terminal(self) -> list[bytes]:
        beat = self.heartbeat()
        return [beat] if beat else []


class StaysOpen(StreamFilter):
    def close_after_terminal(self) -> bool:
        return False


class NoReplay(StreamFilter):
    def resume_after(self) -> int | None:
        if self.requested_after is None and self.session.finished:
            return self.session.log.last_id - 1
        return self.requested_after


class IgnoresLastEventId(StreamFilter):
    def resume_after(self) -> int | None:
        return None


class DuplicateOnResume(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        if self.requested_after is not None and event.id == self.requested_after + 1:
            return [self.session.log.events()[self.requested_after - 1].frame, event.frame]
        return [event.frame]


class UnpairedToolResult(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        if event.event != "tool_result":
            return [event.frame]
        return [reframe(event, data={**event.data, "call_id": "not-the-call"})]


class ProgressRegresses(StreamFilter):
    def frames(self, event: Event) -> list[bytes]:
        if event.id == 1 and event.event == "status":
            return [reframe(event, data={**event.data, "progress": 99})]
        return [event.frame]


class FanoutDrops(StreamFilter):
    """A subscriber that joins while another one reads misses output events."""

    readers: dict[str, int] = {}  # noqa: RUF012 (shared across connections on purpose)

    def __init__(self, session: Session, requested_after: int | None) -> None:
        super().__init__(session, requested_after)
        self.crowded = self.readers.get(session.session_id, 0) > 0
        self.readers[session.session_id] = self.readers.get(session.session_id, 0) + 1

    def frames(self, event: Event) -> list[bytes]:
        return [] if self.crowded and event.event == "output" else [event.frame]

    def closed(self) -> None:
        self.readers[self.session.session_id] -= 1


# ------------------------------------------------------------------ hooks
class PlainTextStream(StreamHooks):
    def response_headers(self) -> dict[str, str]:
        return {**super().response_headers(), "Content-Type": "text/plain"}


class CacheableStream(StreamHooks):
    def response_headers(self) -> dict[str, str]:
        return {k: v for k, v in super().response_headers().items() if k != "Cache-Control"}


class BufferedStream(StreamHooks):
    def response_headers(self) -> dict[str, str]:
        return {k: v for k, v in super().response_headers().items() if k != "X-Accel-Buffering"}


class EmptyInsteadOf204(StreamHooks):
    def answer_nothing_after(self) -> bool:
        return False


# ------------------------------------------------------------------ valid variations
class CrlfLines(StreamFilter):
    """Valid: CRLF line ends."""

    def preamble(self) -> bytes:
        return super().preamble().replace(b"\n", b"\r\n")

    def frames(self, event: Event) -> list[bytes]:
        return [event.frame.replace(b"\n", b"\r\n")]

    def heartbeat(self) -> bytes | None:
        beat = super().heartbeat()
        return beat.replace(b"\n", b"\r\n") if beat else None


class CommentHeartbeats(StreamFilter):
    """Valid: heartbeats as SSE comments."""

    def heartbeat(self) -> bytes | None:
        return b": keep-alive\n\n"


class ExtraFields(StreamFilter):
    """Valid: vendor fields in every event's data."""

    def frames(self, event: Event) -> list[bytes]:
        return [reframe(event, data={**event.data, "x_vendor": {"trace": "abc", "n": 1}})]


class OddChunks(StreamFilter):
    """Valid: bytes flushed in odd boundaries (7-byte writes)."""

    def pieces(self, data: bytes) -> list[bytes]:
        return [data[i : i + 7] for i in range(0, len(data), 7)]

"""Stream faults: per-connection filters and response-level hooks that break stream rules."""

from __future__ import annotations

from contract import stream_rules
from fakes.faults.fault import Fault
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


FAULTS = [
    Fault(
        "cancel_without_terminal",
        "a cancelled stream closes without its cancelled event",
        catches={"conformance": ("CANCEL-ENDS-STREAM",)},
        stream=DropCancelled,
    ),
    Fault(
        "stream_wrong_content_type",
        "stream is text/plain",
        catches={"conformance": ("SSE-CONTENT-TYPE",)},
        hooks=PlainTextStream,
    ),
    Fault(
        "stream_cacheable",
        "no Cache-Control",
        catches={"conformance": ("SSE-NO-CACHE",), "fuzz": ("FUZZ-RESPONSE-HEADERS",)},
        hooks=CacheableStream,
    ),
    Fault(
        "stream_buffered",
        "no X-Accel-Buffering",
        catches={"conformance": ("SSE-NO-BUFFERING",)},
        hooks=BufferedStream,
    ),
    Fault(
        "event_without_data",
        "an event field without data",
        catches={"conformance": ("SSE-WELL-FORMED",)},
        stream=EventWithoutData,
    ),
    Fault(
        "unknown_event_type",
        "output events named stdout",
        catches={"conformance": ("SSE-EVENT-TYPES",)},
        stream=RenameOutput,
    ),
    Fault(
        "event_without_timestamp",
        "tool_call lacks timestamp",
        catches={"conformance": ("SSE-EVENT-SCHEMA",), "pact": ("PACT-MESSAGES",)},
        evidence={"PACT-MESSAGES": "timestamp"},
        stream=DropToolCallTimestamp,
    ),
    Fault(
        "ids_missing",
        "events carry no id",
        catches={"conformance": ("SSE-IDS-PRESENT",)},
        stream=DropIds,
    ),
    Fault(
        "ids_not_numeric",
        "ids are evt-N",
        catches={"conformance": ("SSE-IDS-INCREASE",)},
        stream=TextIds,
    ),
    Fault(
        "heartbeat_with_id",
        "heartbeats carry id 0",
        catches={"conformance": ("SSE-HEARTBEAT-NO-ID",)},
        stream=HeartbeatWithId,
    ),
    Fault(
        "first_event_not_status",
        "the first event is an output event",
        catches={"conformance": ("SSE-FIRST-EVENT",)},
        stream=FirstEventIsOutput,
    ),
    Fault(
        "no_terminal_event",
        "complete is never sent",
        catches={"conformance": ("SSE-ONE-TERMINAL",), "lifecycle_model": ("MODEL-LIFECYCLE",)},
        stream=DropComplete,
    ),
    Fault(
        "stream_stays_open",
        "the stream stays open after the terminal event",
        catches={"conformance": ("SSE-CLOSE-AFTER-TERMINAL", "CANCEL-ENDS-STREAM")},
        stream=StaysOpen,
    ),
    Fault(
        "events_after_terminal",
        "an output event follows the terminal event",
        catches={"conformance": ("SSE-CLOSE-AFTER-TERMINAL",)},
        stream=EventsAfterTerminal,
    ),
    Fault(
        "no_replay",
        "late subscribers get only the last event",
        catches={"conformance": ("SSE-REPLAY",)},
        stream=NoReplay,
    ),
    Fault(
        "fanout_drops",
        "a second concurrent reader misses output",
        catches={"conformance": ("SSE-FANOUT",)},
        stream=FanoutDrops,
    ),
    Fault(
        "last_event_id_ignored",
        "Last-Event-ID is ignored",
        catches={
            "conformance": ("SSE-RESUME", "SSE-RESUME-AFTER-TERMINAL"),
            "lifecycle_model": ("MODEL-LIFECYCLE",),
        },
        stream=IgnoresLastEventId,
    ),
    Fault(
        "duplicate_on_resume",
        "resuming repeats the last seen event",
        catches={"conformance": ("SSE-RESUME",), "lifecycle_model": ("MODEL-LIFECYCLE",)},
        stream=DuplicateOnResume,
    ),
    Fault(
        "resume_after_terminal_200",
        "resuming after the terminal event answers an empty 200",
        catches={"conformance": ("SSE-RESUME-AFTER-TERMINAL",)},
        hooks=EmptyInsteadOf204,
    ),
    Fault(
        "no_heartbeat",
        "heartbeats never sent",
        catches={"conformance": ("SSE-HEARTBEAT",)},
        stream=NoHeartbeat,
    ),
    Fault(
        "no_retry_hint",
        "no retry field",
        catches={"conformance": ("SSE-RETRY-HINT",)},
        stream=NoRetryHint,
    ),
    Fault(
        "tool_result_unpaired",
        "tool_result call_id mismatched",
        catches={"conformance": ("SSE-TOOL-PAIRING",)},
        stream=UnpairedToolResult,
    ),
    Fault(
        "progress_regresses",
        "progress goes 99 then down",
        catches={"conformance": ("SSE-PROGRESS-MONOTONIC",)},
        stream=ProgressRegresses,
    ),
    Fault(
        "valid_crlf",
        "valid: CRLF line ends",
        catches={"conformance": (), "lifecycle_model": ()},
        stream=CrlfLines,
    ),
    Fault(
        "valid_comment_heartbeats",
        "valid: comment heartbeats",
        catches={"conformance": ()},
        stream=CommentHeartbeats,
    ),
    Fault(
        "valid_extra_fields",
        "valid: extra JSON fields",
        catches={"conformance": (), "fuzz": ()},
        stream=ExtraFields,
    ),
    Fault(
        "valid_odd_chunks", "valid: 7-byte writes", catches={"conformance": ()}, stream=OddChunks
    ),
]

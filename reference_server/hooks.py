"""The stream seam the test harness uses to build faulty sidecars.

The defaults *are* the contract; ``fakes.faulty`` overrides one method per fault so
that the suites can prove they catch it. Production code never subclasses this.
"""

from __future__ import annotations

from collections.abc import Mapping

from contract import stream_rules
from reference_server.event_log import Event, encode_frame


class StreamHooks:
    """How the stream handler turns the log into bytes."""

    def response_headers(self) -> dict[str, str]:
        """Headers of a 200 stream response."""
        headers = dict(stream_rules().response_headers)
        headers["Content-Type"] += "; charset=utf-8"
        return headers

    def resume_after(self, requested: int | None) -> int | None:
        """The id the stream resumes after (``None`` = from the start)."""
        return requested

    def preamble(self) -> bytes:
        """Bytes sent before the first event (the retry hint)."""
        return f"retry: {stream_rules().retry_hint_ms}\n\n".encode()

    def frames(self, event: Event, resumed: bool) -> list[bytes]:
        """The bytes for one event of the log (``resumed``: the stream had a Last-Event-ID)."""
        return [event.frame]

    def heartbeat(self) -> bytes | None:
        """A heartbeat frame (no id), or ``None`` to send nothing."""
        rules = stream_rules()
        return encode_frame(rules.heartbeat_event, _as_dict(rules.heartbeat_data), None)

    def after_terminal(self) -> list[bytes]:
        """Frames after the terminal event (the contract: none)."""
        return []

    def close_after_terminal(self) -> bool:
        """Whether to close the stream after the terminal event (the contract: yes)."""
        return True


def _as_dict(data: Mapping[str, object]) -> dict[str, object]:
    return dict(data)

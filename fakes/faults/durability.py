"""Durability faults: a sidecar that forgets across a restart, renumbers its events, or
leaves the sessions a crash interrupted without an end. Each is started with STORAGE_DIR
and restarted (``kill -9``) by the durability suite."""

from __future__ import annotations

from contract import stream_rules
from fakes.faults.fault import Fault
from reference_server.event_log import Event
from reference_server.hooks import StreamFilter

RENUMBER_OFFSET = 1000
"""Where a restarted faulty sidecar starts numbering its recovered sessions' events."""


class RenumberedAfterRestart(StreamFilter):
    """A recovered session's events get new ids (as if the log were numbered afresh by a
    new process), so a client's Last-Event-ID no longer names the event it received."""

    def frames(self, event: Event) -> list[bytes]:
        if not self.session.recovered:
            return super().frames(event)
        renumbered = Event.build(event.id + RENUMBER_OFFSET, event.event, event.data)
        return [renumbered.frame]


class InterruptedLeftOpen(StreamFilter):
    """A session that was running at the crash never gets its terminal event: its stream
    stays open forever after a restart."""

    def _hidden(self, event: Event) -> bool:
        return self.session.recovered and stream_rules().is_interrupted(event.event, event.data)

    def frames(self, event: Event) -> list[bytes]:
        return [] if self._hidden(event) else super().frames(event)

    def close_after_terminal(self) -> bool:
        terminal = self.session.log.terminal
        return terminal is None or not self._hidden(terminal)


FAULTS = [
    Fault(
        "durability_in_memory",
        "ignores STORAGE_DIR: a restart forgets every session",
        catches={
            "durability": (
                "DURABLE-REPLAY-AFTER-RESTART",
                "DURABLE-INTERRUPTED-TERMINAL",
                "DURABLE-RESUME-ACROSS-RESTART",
                "DURABLE-ID-STAYS-TAKEN",
            )
        },
        config={"storage_dir": None},
    ),
    Fault(
        "durability_renumbered",
        "after a restart, recovered sessions' events carry new ids",
        catches={"durability": ("DURABLE-REPLAY-AFTER-RESTART", "DURABLE-RESUME-ACROSS-RESTART")},
        stream=RenumberedAfterRestart,
    ),
    Fault(
        "durability_interrupted_left_open",
        "sessions running at the crash never get their terminal event",
        catches={"durability": ("DURABLE-INTERRUPTED-TERMINAL",)},
        stream=InterruptedLeftOpen,
    ),
]

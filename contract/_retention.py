"""The ``retention:`` section of ``stream.yaml``: how long a finished session stays readable."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from contract._files import STREAM_PATH, load_data
from contract._openapi import status_for


@dataclass(frozen=True)
class RetentionRules:
    """Defaults and tolerance of session retention (``STREAM_RULES.md#retention``)."""

    default_seconds: float
    """``SESSION_RETENTION`` when a sidecar is not told otherwise."""
    default_max_finished: int
    """``MAX_RETAINED_SESSIONS`` when a sidecar is not told otherwise."""
    sweep_tolerance_seconds: float
    """A session past retention is gone at most this much later."""
    expired_outcome: str
    """The ``x-outcome`` every route naming a session past retention answers."""

    def expired_status(self, operation_id: str) -> int:
        """The status ``operation_id`` answers for a session past retention."""
        return status_for(operation_id, self.expired_outcome)

    def gone_by(self, retention: float) -> float:
        """Seconds after the terminal event by which a session must be gone."""
        return retention + self.sweep_tolerance_seconds


@cache
def retention_rules() -> RetentionRules:
    raw = load_data(STREAM_PATH)["retention"]
    rules = RetentionRules(
        default_seconds=float(raw["default_seconds"]),
        default_max_finished=int(raw["default_max_finished"]),
        sweep_tolerance_seconds=float(raw["sweep_tolerance_seconds"]),
        expired_outcome=str(raw["expired_outcome"]),
    )
    for op in ("getSessionStatus", "streamSession", "websocketSession", "cancelSession"):
        rules.expired_status(op)  # every session route documents the outcome
    return rules

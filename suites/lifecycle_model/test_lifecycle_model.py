"""Run the lifecycle state machine against the target."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from suites.checks.verdict import ClauseViolation
from suites.clientkit.client import SidecarClient
from suites.lifecycle_model.machine import WORLD, SessionLifecycle
from suites.plugin.target import TargetOptions

# No shrinking: a live sidecar keeps state between examples, so replays are not identical.
SETTINGS = settings(
    max_examples=12,
    stateful_step_count=8,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)


def _violation(exc: BaseException) -> ClauseViolation | None:
    if isinstance(exc, ClauseViolation):
        return exc
    for inner in (*getattr(exc, "exceptions", ()), exc.__cause__, exc.__context__):
        if isinstance(inner, BaseException) and (found := _violation(inner)) is not None:
            return found
    return None


@pytest.mark.clause("MODEL-LIFECYCLE")
def test_lifecycle_behaves_as_the_model_predicts(
    target: TargetOptions, sidecar: SidecarClient, model_endpoint: str
) -> None:
    WORLD.client = sidecar
    WORLD.model_endpoint = model_endpoint
    WORLD.max_sessions = target.max_sessions
    try:
        run_state_machine_as_test(SessionLifecycle, settings=SETTINGS)
    except Exception as exc:
        found = _violation(exc)
        if found is None:
            raise
        steps = "\n".join(getattr(exc, "__notes__", []) or getattr(found, "__notes__", []))
        raise ClauseViolation(
            found.title, found.expected, f"{found.actual}\nSteps that led there:\n{steps}"
        ) from None
    finally:
        for session_id in WORLD.created:
            sidecar.cancel(session_id)
        WORLD.created.clear()

"""Model faults end the session with one fatal error naming its code (contract/model.yaml
failure_codes); a model that never finishes meets SESSION_TIMEOUT; cancel stops the work."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from contract import model_failure_codes, status_for, stream_rules
from suites.agent._audit import model_requests
from suites.agent._fixtures import AgentRun, SlowRuns, endless_window, plan, run_sessions
from suites.checks.expect import expect_timeout_terminal
from suites.checks.verdict import capability_absent, check, precondition_failed
from suites.clientkit.client import SidecarClient
from suites.plugin.target import TargetOptions

pytest_plugins = ("suites.agent._fixtures",)

MODEL_FAULTS = (
    "model_500",
    "model_429",
    "malformed_stream",
    "dropped_connection",
    "model_error_midstream",
)
"""Scenarios of the fake model, one per model failure the clause names."""
AGENT_CANCEL = "agent_cancel"
CANCEL_LATE_FILE = "cancel_late.txt"
CANCEL_STARTED_FILE = "cancel_started.txt"
CANCEL_OK = status_for("cancelSession", "cancelled")
QUIET_AFTER_CANCEL = 2.0
"""Seconds watched after DELETE: longer than the scenario's slow command (0.5 s)."""
SLOW_COMMAND = 0.5
BASH_START_WAIT = 30.0
"""Seconds to wait for agent_cancel's command to start (a cold agent runtime is slow)."""
"""Seconds agent_cancel's command runs: a bash timeout at most this long ends it anyway."""


def _single(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, scenario: str, silence: float
) -> AgentRun:
    return run_sessions(
        sidecar, model_endpoint, [plan(scenario, model_endpoint, api_key)], silence
    )[0]


@pytest.mark.clause("AGENT-MODEL-FAULT")
@pytest.mark.parametrize("scenario", MODEL_FAULTS)
def test_a_model_failure_ends_the_session_with_one_fatal_error(
    scenario: str,
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
) -> None:
    run = _single(sidecar, model_endpoint, api_key, scenario, max_silence)
    event, data = run.terminal()
    codes = sorted(model_failure_codes())
    check(
        event == "error" and data.get("fatal") is True and data.get("code") in codes,
        f"{scenario}: the terminal event must be the fatal error with a model.yaml failure code",
        f"error {{fatal: true, code: one of {codes}}}",
        f"{event} {data}",
        run.recording.response,
    )
    fatal = [e for e in run.events("error") if e.get("fatal") is True]
    check(len(fatal) == 1, f"{scenario}: exactly one fatal error", 1, fatal)
    failed = stream_rules().fatal_status
    check(
        run.status.get("status") == failed,
        f"{scenario}: the status endpoint must say {failed}",
        failed,
        run.status.get("status"),
    )


@pytest.mark.clause("AGENT-MODEL-ENDLESS")
def test_a_model_that_never_finishes_is_ended_by_session_timeout(
    target: TargetOptions, slow_runs: Callable[[], SlowRuns]
) -> None:
    run, window = slow_runs().endless, endless_window(target)
    if run is None or window is None:
        capability_absent("the target's SESSION_TIMEOUT was not declared (--session-timeout)")
    rules = stream_rules()
    index = run.recording.terminal_index()
    if index is None:
        check(
            False,
            "a session whose model never finishes must end at SESSION_TIMEOUT",
            f"{rules.timeout_event} {dict(rules.timeout_data)} within {window:.0f} s",
            f"no terminal event after {window:.1f} s",
        )
    expect_timeout_terminal(
        run.recording.events[index or 0], "the terminal event must be the timeout error"
    )


def _wait_for_tool(
    sidecar: SidecarClient, session_id: str, tool: str, timeout: float
) -> dict[str, Any]:
    """Poll the status endpoint until its current_tool is ``tool`` (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = sidecar.status(session_id).json()
        if body.get("current_tool") == tool or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


@dataclass(frozen=True)
class CancelledRun:
    """An ``agent_cancel`` session cancelled while its slow bash command ran, then watched
    for :data:`QUIET_AFTER_CANCEL` s."""

    session_id: str
    marker: str
    cancelled_at: float
    endpoint: str


@pytest.fixture(scope="session")
def cancelled_run(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
    target: TargetOptions,
) -> CancelledRun:
    p = plan(AGENT_CANCEL, model_endpoint, api_key, enabled_tools=("bash",))
    session_id = str(uuid.uuid4())
    response = sidecar.create_session(session_id, p.prompt, p.config)
    if not response.is_success:
        precondition_failed("CREATE-201", f"POST /sessions answered {response.status_code}")
    status = _wait_for_tool(sidecar, session_id, "bash", timeout=BASH_START_WAIT)
    if status.get("current_tool") != "bash":
        sidecar.cancel(session_id)
        precondition_failed(
            "STATUS-200", f"agent_cancel: bash did not start within {BASH_START_WAIT:g} s: {status}"
        )
    _wait_for_command(target, session_id)
    cancelled = sidecar.cancel(session_id)
    cancelled_at = time.time()
    if cancelled.status_code != CANCEL_OK:
        precondition_failed("CANCEL-200", f"DELETE answered {cancelled.status_code}")
    time.sleep(QUIET_AFTER_CANCEL)
    return CancelledRun(
        session_id, p.prompt.rsplit(" ", 1)[-1].rstrip("."), cancelled_at, model_endpoint
    )


def _wait_for_command(target: TargetOptions, session_id: str) -> None:
    """Until the slow command runs: its first file, when the workspace is visible (a
    sidecar may take a moment between announcing the call and running the command, e.g.
    to start it confined in a child), else 0.1 s. The command sleeps 0.5 s after that
    file, so the cancel lands while it runs."""
    if target.workspace is None:
        time.sleep(0.1)
        return
    started = target.workspace / session_id / CANCEL_STARTED_FILE
    deadline = time.monotonic() + BASH_START_WAIT
    while not started.is_file() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.clause("AGENT-CANCEL-STOPS-MODEL")
def test_after_cancel_the_model_gets_no_further_request(cancelled_run: CancelledRun) -> None:
    requests = model_requests(cancelled_run.endpoint, AGENT_CANCEL, cancelled_run.marker)
    if not requests:
        precondition_failed("AGENT-REQUEST-PROMPTS", "no request of the session was recorded")
    later = [round(r.received_at - cancelled_run.cancelled_at, 2) for r in requests]
    later = [t for t in later if t > 0.05]
    check(
        not later,
        "after DELETE the model must get no request of the session "
        f"(watched {QUIET_AFTER_CANCEL:g} s)",
        "no request after the DELETE answered",
        f"{len(later)} request(s), at +{later} s",
    )


@pytest.mark.clause("AGENT-CANCEL-KILLS-BASH")
def test_cancel_kills_the_running_bash_command(
    cancelled_run: CancelledRun, target: TargetOptions
) -> None:
    if target.workspace is None:
        capability_absent("the target's workspace is not visible from here (pass --workspace)")
    if target.bash_timeout is not None and target.bash_timeout <= SLOW_COMMAND:
        capability_absent(
            f"the target's bash timeout ({target.bash_timeout:g} s) ends agent_cancel's "
            f"{SLOW_COMMAND:g} s command by itself; run it with a longer one"
        )
    root = target.workspace / cancelled_run.session_id
    if not (root / CANCEL_STARTED_FILE).is_file():
        precondition_failed(
            "AGENT-TOOL-DISK", f"the slow command did not run in {root} (no {CANCEL_STARTED_FILE})"
        )
    late = root / CANCEL_LATE_FILE
    check(
        not late.exists(),
        f"the bash command running at cancel must be killed: {late} appeared "
        f"{QUIET_AFTER_CANCEL:g} s later",
        "no file",
        "the file exists (the command ran to its end)",
    )

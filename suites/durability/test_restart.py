"""Kill -9 under live sessions with readers, restart, and check that no event was lost."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from contract import status_for, stream_rules
from suites.checks.verdict import capability_absent, check, violation
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.recording import Recording, data_of, record
from suites.durability._crash import Crash, crash_and_restart, in_parallel
from suites.plugin.target import TargetOptions

STATUS_FIELDS = ("status", "progress", "files_modified", "last_event_id", "error")


@pytest.fixture(scope="module")
def crash(
    target: TargetOptions,
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
) -> Crash:
    if not target.restart_cmd:
        capability_absent(
            "no restart command (a shell command that kills the target with SIGKILL and "
            "starts it again on the same URL)",
            flag="--restart-cmd",
        )
    return crash_and_restart(target, sidecar, model_endpoint, api_key, max_silence)


def _found(replay: Recording) -> None:
    check(
        replay.status_code == status_for("streamSession", "stream"),
        f"after the restart, GET /sessions/{replay.session_id}/stream answers",
        status_for("streamSession", "stream"),
        f"{replay.status_code} {replay.body[:200]!r}",
        replay.response,
    )


@pytest.mark.clause("DURABLE-REPLAY-AFTER-RESTART")
def test_every_received_event_is_replayed_after_the_restart(
    crash: Crash, sidecar: SidecarClient
) -> None:
    before = crash.finished_before
    after = crash.replays[crash.finished_id]
    _found(after)
    check(
        after.history() == before.history(),
        "a session finished before the crash replays its whole history unchanged",
        before.history(),
        after.history(),
        after.response,
    )
    status = sidecar.status(crash.finished_id)
    body = status.json() if status.status_code == status_for("getSessionStatus", "status") else {}
    expected = {k: crash.finished_status.get(k) for k in STATUS_FIELDS}
    actual = {k: body.get(k) for k in STATUS_FIELDS} if body else status.status_code
    check(expected == actual, "its status is unchanged", expected, actual, status)
    for reader in crash.live:
        replay = crash.replays[reader.session_id]
        _found(replay)
        received = reader.history()
        replayed = replay.history()[: len(received)]
        check(
            replayed == received,
            f"session {reader.session_id}: the events a reader received before the crash "
            "are replayed identically",
            received,
            replayed,
            replay.response,
        )


@pytest.mark.clause("DURABLE-INTERRUPTED-TERMINAL")
def test_sessions_running_at_the_crash_end_interrupted(
    crash: Crash, sidecar: SidecarClient
) -> None:
    rules = stream_rules()
    expected = {"event": rules.interrupted_event, **rules.interrupted_data}
    for reader in crash.live:
        if reader.ended():
            continue  # it ended before the crash: nothing was interrupted
        replay = crash.replays[reader.session_id]
        _found(replay)
        history = replay.numbered()
        terminals = [
            e
            for e in history
            if isinstance(d := data_of(e), dict) and rules.is_terminal(e.event, d)
        ]
        last: dict[str, Any] = {}
        if terminals:
            data = data_of(terminals[-1])
            last = {
                "event": terminals[-1].event,
                **{k: data.get(k) for k in rules.interrupted_data},
            }
        check(
            len(terminals) == 1 and terminals[0] is history[-1] and last == expected,
            f"session {reader.session_id}, running at the crash, ends with exactly one "
            f"terminal event, the interrupted error (read for {crash.window:g} s)",
            expected,
            last or f"{len(terminals)} terminal events in {[e.event for e in history]}",
            replay.response,
        )
        status = sidecar.status(reader.session_id).json()
        wanted = rules.session_status_after(terminals[0].event, data_of(terminals[0]))
        check(
            status.get("status") == wanted,
            "its status endpoint reports the interrupted session's terminal status",
            wanted,
            status.get("status"),
        )


@pytest.mark.clause("DURABLE-RESUME-ACROSS-RESTART")
def test_last_event_id_resumes_across_the_restart(
    crash: Crash, sidecar: SidecarClient, max_silence: float
) -> None:
    last_ids = {r.session_id: r.events[-1].id for r in crash.live}
    resumed = in_parallel(
        {
            sid: partial(record, sidecar, sid, last, max_silence=max_silence, window=crash.window)
            for sid, last in last_ids.items()
        }
    )
    for sid, last in last_ids.items():
        replay = crash.replays[sid]
        _found(replay)
        after = resumed[sid]
        if after.status_code != status_for("streamSession", "stream"):
            violation(
                f"session {sid}: Last-Event-ID {last} after the restart answers",
                status_for("streamSession", "stream"),
                f"{after.status_code} {after.body[:200]!r}",
                after.response,
            )
        history = replay.history()
        ids = [event_id for event_id, _, _ in history]
        expected = history[ids.index(last) + 1 :] if last in ids else history
        if last not in ids:
            violation(
                f"session {sid}: the last id a reader received ({last}) is in the replay",
                f"id {last}",
                ids,
                replay.response,
            )
        check(
            after.history() == expected,
            f"session {sid}: Last-Event-ID {last} resumes with exactly the events after it",
            expected,
            after.history(),
            after.response,
        )


@pytest.mark.clause("DURABLE-ID-STAYS-TAKEN")
def test_session_ids_stay_taken_after_the_restart(
    crash: Crash, sidecar: SidecarClient, model_endpoint: str, api_key: str
) -> None:
    duplicate = status_for("createSession", "duplicate")
    for session_id in [crash.finished_id, *(r.session_id for r in crash.live)]:
        response = sidecar.create_session(
            session_id, "Again.", model_config("quick", model_endpoint, api_key)
        )
        if response.is_success:
            sidecar.cancel(session_id)
        check(
            response.status_code == duplicate,
            f"POST /sessions with {session_id}, created before the restart, answers",
            duplicate,
            f"{response.status_code} {response.text[:200]}",
            response,
        )

"""What the tools do (contract/tools.yaml): exact semantics over the wire and on disk, the
one error result, refusal of tools that are not enabled, bash's timeout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from contract import tool_contract
from suites.agent._fixtures import AgentRun, SlowRuns, ToolsPair, bash_timeout_unchecked
from suites.agent._semantics import is_error, is_success, read_shows
from suites.checks.verdict import capability_absent, check, precondition_failed, violation
from suites.plugin.target import TargetOptions

pytest_plugins = ("suites.agent._fixtures",)

NOTES = "notes.txt"
BEFORE = "alpha\nbeta\n"
AFTER = "alpha\ngamma\n"
KILLED = "killed\n"


def _calls(run: AgentRun) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    calls = run.results()
    if not calls:
        precondition_failed("SSE-TOOL-PAIRING", f"{run.scenario}: no tool_call was reported")
    return calls


def _result(call: dict[str, Any], result: dict[str, Any] | None) -> Any:
    if result is None:
        precondition_failed("SSE-TOOL-PAIRING", f"{call.get('tool')} call has no tool_result")
    return result.get("result")


@pytest.mark.clause("AGENT-TOOL-SEMANTICS")
def test_write_read_edit_bash_do_exactly_what_the_contract_says(tools_pair: ToolsPair) -> None:
    for run in tools_pair:
        _semantics_hold(run)


def _semantics_hold(run: AgentRun) -> None:
    calls = _calls(run)
    tools = [c.get("tool") for c, _ in calls]
    expected_tools = ["write", "read", "edit", "read", "bash"]
    check(tools == expected_tools, f"{run.label}: the tool calls, in order", expected_tools, tools)
    results = [_result(c, r) for c, r in calls]
    for tool, result in zip(tools, results, strict=True):
        check(
            is_success(result),
            f"{tool} tool_result.result must be tools.yaml's success result",
            tool_contract().success_result,
            result,
        )
    output = [str(r.get("output", "")) for r in results]
    check(
        read_shows(output[1], BEFORE),
        "read after write: tool_result.result.output must show the file's lines (tools.yaml read)",
        BEFORE,
        output[1],
    )
    check(
        read_shows(output[3], AFTER) and not read_shows(output[3], "beta"),
        "read after edit: output must show the edited lines, without beta (tools.yaml edit)",
        AFTER,
        output[3],
    )
    check(
        output[4] == AFTER,
        "bash `cat notes.txt`: tool_result.result.output must be exactly the file",
        AFTER,
        output[4],
    )
    event, data = run.terminal()
    files = data.get("files_modified")
    check(
        event == "complete" and isinstance(files, list) and NOTES in files,
        "complete.files_modified must list the file the session wrote",
        [NOTES],
        f"{event} {files}",
    )


@pytest.mark.clause("AGENT-TOOL-DISK")
def test_the_changes_are_on_disk(tools_pair: ToolsPair, target: TargetOptions) -> None:
    if target.workspace is None:
        capability_absent("the target's workspace is not visible from here", flag="--workspace")
    for run in tools_pair:
        path = target.workspace / run.session_id / NOTES
        actual = path.read_text(encoding="utf-8") if path.is_file() else "missing"
        check(actual == AFTER, f"file {path} must hold the edited content", AFTER, actual)


@pytest.mark.clause("AGENT-TOOL-NOT-ENABLED")
def test_a_tool_that_is_not_enabled_is_refused_and_has_no_effect(
    not_enabled_run: AgentRun, target: TargetOptions
) -> None:
    calls = _calls(not_enabled_run)
    wrong = []
    for call, result in calls:
        outcome = _result(call, result)
        name, args = call.get("tool"), call.get("args", {})
        if not is_error(outcome):
            wrong.append(f"{name} {args}: {outcome}")
    check(
        not wrong,
        "with enabled_tools [read]: write and bash calls must end in tools.yaml's error result, "
        "and the reads of the files they would have made must fail (nothing was made)",
        f"every result {tool_contract().error_result['required']} only",
        wrong,
    )
    if target.workspace is not None:
        root = target.workspace / not_enabled_run.session_id
        made = [p.name for p in (root / "forbidden.txt", root / "ran.txt") if p.exists()]
        check(not made, f"nothing may be written in {root}", "no file", made)


@pytest.mark.clause("AGENT-TOOL-ERROR")
def test_a_failing_tool_call_is_a_tool_error_and_the_session_goes_on(
    tool_error_run: AgentRun,
) -> None:
    run = tool_error_run
    _, result = _calls(run)[0]
    fatal = [e for e in run.events("error") if e.get("fatal") is True]
    event, data = run.terminal()
    if result is None:
        violation(
            "read of a missing file: the call must get tools.yaml's error result, and the "
            "session goes on",
            "a tool_result {error}, then complete",
            f"no tool_result; the session ended with {event} {data}",
        )
    outcome = result.get("result")
    check(
        is_error(outcome),
        "read of a missing file: tool_result.result must be tools.yaml's error result",
        tool_contract().error_result,
        outcome,
    )
    check(
        not fatal and event == "complete",
        "a tool error is not fatal: the session goes on and completes",
        "complete, no fatal error",
        f"{event} {data}; fatal errors {fatal}",
    )
    requests = run.requests()
    check(
        len(requests) >= 2,
        "after the tool error the model must be asked again (with the error as the tool's answer)",
        "at least 2 model requests",
        len(requests),
    )


TWICE = "twice.txt"
TWICE_CONTENT = "same\nsame\n"


@pytest.mark.clause("AGENT-TOOL-EDIT-UNIQUE")
def test_an_edit_whose_old_string_occurs_twice_is_refused_and_changes_nothing(
    edit_ambiguous_run: AgentRun, target: TargetOptions
) -> None:
    calls = _calls(edit_ambiguous_run)
    tools = [c.get("tool") for c, _ in calls]
    expected_tools = ["write", "read", "edit", "read"]
    check(tools == expected_tools, "the tool calls, in order", expected_tools, tools)
    results = [_result(c, r) for c, r in calls]
    check(
        is_error(results[2]),
        "edit of an oldString that occurs twice, without replaceAll, must end in tools.yaml's "
        "error result (as OpenCode's edit: the model must give more context or replaceAll)",
        tool_contract().error_result,
        results[2],
    )
    second_read = str((results[3] or {}).get("output", "")) if is_success(results[3]) else ""
    check(
        read_shows(second_read, TWICE_CONTENT) and "other" not in second_read,
        "the refused edit must change nothing: the read after it shows the file as written",
        repr(TWICE_CONTENT),
        results[3],
    )
    on_disk = None if target.workspace is None else target.workspace / edit_ambiguous_run.session_id
    if on_disk is not None and (on_disk / TWICE).is_file():  # (where files go: AGENT-TOOL-DISK)
        text = (on_disk / TWICE).read_text(errors="replace")
        check(text == TWICE_CONTENT, f"{on_disk / TWICE} must be unchanged", TWICE_CONTENT, text)


def _seconds(start: str, end: str) -> float:
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


@pytest.mark.clause("AGENT-BASH-TIMEOUT")
def test_a_bash_command_past_its_timeout_is_killed_and_the_session_goes_on(
    target: TargetOptions, slow_runs: Callable[[], SlowRuns]
) -> None:
    run = slow_runs().bash_timeout
    if run is None:
        why = bash_timeout_unchecked(target)
        if why is None:
            raise RuntimeError("suite bug: the bash timeout run was not started though it could be")
        capability_absent(why.reason, flag=why.flag)
    limit = target.bash_timeout or 0.0
    calls = _calls(run)
    if len(calls) < 2:
        event, data = run.terminal()
        violation(
            "after a bash timeout the session must go on to the next tool call",
            "2 bash calls, then complete",
            f"{len(calls)} call(s), then {event} {data}",
        )
    (first, first_result), (second, second_result) = calls[:2]
    outcome = _result(first, first_result)
    check(
        is_error(outcome),
        "`exec sleep 30` past the bash timeout: tool_result.result must be the error result",
        tool_contract().error_result,
        outcome,
    )
    assert first_result is not None
    took = _seconds(str(first.get("timestamp")), str(first_result.get("timestamp")))
    bound = limit * 1.5 + 1.0
    check(
        took <= bound,
        "the command must be stopped at the bash timeout (tool_call -> tool_result timestamps)",
        f"<= {bound:g} s (timeout {limit:g} s)",
        f"{took:.2f} s",
    )
    later = _result(second, second_result)
    check(
        is_success(later) and later.get("output") == KILLED,
        "the timed-out command must be killed: its process is gone (test -d /proc/PID)",
        {"output": KILLED},
        later,
    )
    event, data = run.terminal()
    check(event == "complete", "the session goes on and completes", "complete", f"{event} {data}")

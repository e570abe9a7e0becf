"""OpenCode's events (recorded from a real ``opencode serve`` run) into the contract's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reference_server.runtimes.opencode_events import Outcome, SessionTranslator

DATA = Path(__file__).parent / "data"


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def output(self, text: str, stream: str = "stdout") -> None:
        self.calls.append(("output", (text,)))

    def tool_call(self, call_id: str, tool: str, args: Any) -> None:
        self.calls.append(("tool_call", (call_id, tool, dict(args))))

    def tool_result(self, call_id: str, tool: str, result: Any) -> None:
        self.calls.append(("tool_result", (call_id, tool, dict(result))))

    def progress(self, progress: int) -> None:
        self.calls.append(("progress", (progress,)))

    def warning(self, message: str) -> None:
        self.calls.append(("warning", (message,)))

    def model_call(self, outcome: str, seconds: float) -> None:
        self.calls.append(("model_call", (outcome, seconds)))

    def named(self, kind: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == kind]


def replay(recording: str, workspace: Path) -> tuple[RecordingSink, SessionTranslator, Outcome]:
    sink = RecordingSink()
    translator = SessionTranslator(sink, workspace)
    outcome = None
    for line in (DATA / recording).read_text().splitlines():
        event = json.loads(line.replace("{workspace}", str(workspace)))
        outcome = translator.feed(event["type"], event["properties"])
        if outcome is not None:
            break
    assert outcome is not None, "the recording never reached an end"
    return sink, translator, outcome


def test_tool_parts_become_paired_calls_and_results_in_order(tmp_path: Path) -> None:
    sink, _, outcome = replay("opencode_read_edit_bash.jsonl", tmp_path)
    assert outcome == Outcome("idle")
    calls = sink.named("tool_call")
    results = sink.named("tool_result")
    assert [(c[0], c[1]) for c in calls] == [
        ("call_0_0", "write"),
        ("call_1_0", "read"),
        ("call_2_0", "edit"),
        ("call_3_0", "bash"),
    ]
    assert [r[0] for r in results] == [c[0] for c in calls]
    assert calls[2][2] == {"filePath": "notes.txt", "oldString": "beta", "newString": "gamma"}
    assert results[3][2] == {"output": "alpha\ngamma\n"}
    order = [name for name, _ in sink.calls if name.startswith("tool_")]
    assert order == ["tool_call", "tool_result"] * 4


def test_assistant_text_streams_once_and_the_prompt_is_not_echoed(tmp_path: Path) -> None:
    sink, translator, _ = replay("opencode_read_edit_bash.jsonl", tmp_path)
    text = "".join(args[0] for args in sink.named("output"))
    assert text == "notes.txt now reads alpha and gamma."
    assert translator.final_text == text


def test_files_edited_are_relative_to_the_workspace_once_each(tmp_path: Path) -> None:
    _, translator, _ = replay("opencode_read_edit_bash.jsonl", tmp_path)
    assert translator.files == ["notes.txt"]


def test_progress_rises_with_each_step(tmp_path: Path) -> None:
    sink, _, _ = replay("opencode_read_edit_bash.jsonl", tmp_path)
    assert [p[0] for p in sink.named("progress")] == [10, 20, 30, 40, 50]


def test_a_failed_tool_is_a_tool_result_with_error_and_a_warning(tmp_path: Path) -> None:
    sink, _, outcome = replay("opencode_tool_error.jsonl", tmp_path)
    assert outcome.kind == "idle"
    [(call_id, tool, result)] = sink.named("tool_result")
    assert (call_id, tool) == ("call_0_0", "read")
    assert set(result) == {"error"}
    assert "File not found" in result["error"]
    [(warning,)] = sink.named("warning")
    assert warning.startswith("read failed")


def test_retry_status_and_session_error_end_the_session(tmp_path: Path) -> None:
    translator = SessionTranslator(RecordingSink(), tmp_path)
    retry = {"sessionID": "s", "status": {"type": "retry", "attempt": 1, "message": "HTTP 500"}}
    assert translator.feed("session.status", retry) == Outcome("retry", "HTTP 500")
    assert translator.feed("session.status", {"status": {"type": "busy"}}) is None
    error = {"error": {"name": "APIError", "data": {"message": "boom\n  at stack"}}}
    assert translator.feed("session.error", error) == Outcome("error", "boom", "APIError")


def test_files_outside_the_workspace_are_not_reported(tmp_path: Path) -> None:
    translator = SessionTranslator(RecordingSink(), tmp_path / "ws")
    translator.feed("file.edited", {"file": str(tmp_path / "elsewhere.txt")})
    translator.feed("file.edited", {"file": str(tmp_path / "ws" / "a" / "b.txt")})
    assert translator.files == ["a/b.txt"]


def test_a_refused_call_and_a_timed_out_bash_are_tool_errors() -> None:
    from reference_server.runtimes.opencode_events import bash_timeout_note, refused_call

    refused = {"status": "completed", "input": {"tool": "write"}, "output": "unavailable tool"}
    assert refused_call("invalid", refused) == "unavailable tool"
    assert refused_call("read", refused) is None
    killed = {
        "status": "completed",
        "output": "partial\n\n<bash_metadata>\nshell tool terminated command after exceeding "
        "timeout 1000 ms.\n</bash_metadata>",
    }
    note = bash_timeout_note("bash", killed)
    assert note is not None and note.startswith("command timed out: shell tool terminated")
    assert bash_timeout_note("bash", {"output": "fine"}) is None

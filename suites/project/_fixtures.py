"""The sessions of the project suite, each run once per test session and shared by its
checks: reads at two bases, and two concurrent edits of the same file."""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import project_fixture, status_for
from suites.agent._semantics import is_success, read_shows
from suites.checks.verdict import capability_absent, precondition_failed
from suites.clientkit.client import SidecarClient, model_config, session_body
from suites.clientkit.recording import Recording, data_of, record
from suites.plugin.target import TargetOptions
from suites.project._fixture import commit_of, files_of_commit, make_local_fixture

READ = "project_read"
EDIT = "project_edit"
TAG = next(c.tag for c in project_fixture().commits if c.tag)
FIXTURE_FLAG = "--project-fixture"


@dataclass(frozen=True)
class ProjectRun:
    """One finished session of the fixture project: what it asked, its stream, its diff."""

    session_id: str
    base_ref: str | None
    mark: str
    recording: Recording
    status: dict[str, Any]
    diff: httpx.Response | None = None

    def terminal(self) -> tuple[str, dict[str, Any]]:
        index = self.recording.terminal_index()
        if index is None:
            precondition_failed("SSE-ONE-TERMINAL", f"session {self.session_id} did not end")
        event = self.recording.events[index]
        data = data_of(event)
        return event.event or "message", data if isinstance(data, dict) else {}

    @property
    def change(self) -> dict[str, Any]:
        change = self.terminal()[1].get("change")
        return change if isinstance(change, dict) else {}

    def reads_of(self, tool: str) -> list[tuple[dict[str, Any], Any]]:
        calls = [
            d
            for e in self.recording.events
            if e.event == "tool_call" and isinstance(d := data_of(e), dict)
        ]
        results = {
            d.get("call_id"): d.get("result")
            for e in self.recording.events
            if e.event == "tool_result" and isinstance(d := data_of(e), dict)
        }
        return [
            (c.get("args", {}), results.get(c.get("call_id")))
            for c in calls
            if c.get("tool") == tool
        ]

    def last_read(self) -> Any:
        """The result of the session's last read of the file its scenario edits."""
        path = project_fixture().edit["modify"]["path"]
        shown = [r for a, r in self.reads_of("read") if a.get("filePath") == path]
        return shown[-1] if shown else None

    def edited(self, base_text: str, mark: str) -> str:
        """The edited file's text after the edit of the session marked ``mark``."""
        modify = project_fixture().edit["modify"]
        return base_text.replace(modify["old"], modify["new"].replace("{mark}", mark), 1)

    def final_text(self, base_text: str, marks: tuple[str, ...]) -> str | None:
        """Which text of the edited file the last read showed: after the edit of one of
        ``marks``, or the base's (a read's output may wrap the file's lines: tools.yaml)."""
        result = self.last_read()
        if not is_success(result):
            return None
        output = str(result.get("output", ""))
        candidates = [self.edited(base_text, m) for m in marks] + [base_text]
        return next((c for c in candidates if read_shows(output, c)), None)

    def own_files(
        self, base_files: dict[str, str], marks: tuple[str, ...]
    ) -> dict[str, str] | None:
        """The session's files: the base's, with what its tools showed and did."""
        edit = project_fixture().edit
        path = edit["modify"]["path"]
        text = self.final_text(base_files[path], marks)
        if text is None:
            return None
        files = dict(base_files)
        files[path] = text
        files[edit["add"]["path"].replace("{mark}", self.mark)] = edit["add"]["content"].replace(
            "{mark}", self.mark
        )
        files.pop(edit["delete"], None)
        return files


@dataclass(frozen=True)
class LocalFixture:
    """The verifier's own copy of the fixture project, and the commit ids of its refs."""

    path: Path
    head: str
    tag_commit: str

    def files(self, commit: str) -> dict[str, str]:
        return files_of_commit(self.path, commit)


def fixture_or_skip(target: TargetOptions) -> None:
    if not target.has_project_fixture:
        capability_absent(
            "the target was not declared started on the fixture project", flag=FIXTURE_FLAG
        )


@pytest.fixture(scope="session")
def local_fixture(target: TargetOptions, tmp_path_factory: pytest.TempPathFactory) -> LocalFixture:
    fixture_or_skip(target)
    path = make_local_fixture(tmp_path_factory.mktemp("fixture"))
    return LocalFixture(path, commit_of(path, "HEAD"), commit_of(path, TAG))


def start(
    client: SidecarClient, scenario: str, endpoint: str, api_key: str, base_ref: str | None
) -> tuple[str, str, httpx.Response]:
    session_id = str(uuid.uuid4())
    mark = f"m{secrets.token_hex(5)}"
    body = session_body(
        session_id,
        f"Play scenario {scenario}. mark={mark}",
        model_config(scenario, endpoint, api_key),
    )
    if base_ref is not None:
        body["base_ref"] = base_ref
    return session_id, mark, client.call("createSession", json=body)


def run_all(
    client: SidecarClient,
    endpoint: str,
    api_key: str,
    plans: list[tuple[str, str | None]],
    max_silence: float,
    diff: bool,
) -> list[ProjectRun]:
    """Start every (scenario, base_ref) at once, read each to its end, then its diff."""
    started: list[tuple[str, str, str | None]] = []
    for scenario, base_ref in plans:
        session_id, mark, response = start(client, scenario, endpoint, api_key, base_ref)
        if response.status_code != status_for("createSession", "created"):
            for sid, *_ in started:
                client.cancel(sid)
            precondition_failed(
                "CREATE-201", f"POST /sessions answered {response.status_code}: {response.text}"
            )
        started.append((session_id, mark, base_ref))
    recordings: dict[str, Recording] = {}

    def read(session_id: str) -> None:
        recordings[session_id] = record(client, session_id, max_silence=max_silence, window=60)

    threads = [threading.Thread(target=read, args=(sid,)) for sid, *_ in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = []
    for session_id, mark, base_ref in started:
        status = client.status(session_id)
        body = (
            status.json() if status.status_code == status_for("getSessionStatus", "status") else {}
        )
        got = client.call("getSessionDiff", path={"session_id": session_id}) if diff else None
        runs.append(ProjectRun(session_id, base_ref, mark, recordings[session_id], body, got))
    return runs


@pytest.fixture(scope="session")
def project_reads(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
    target: TargetOptions,
) -> tuple[ProjectRun, ProjectRun]:
    """``project_read`` at the tag and at the default base, at once."""
    fixture_or_skip(target)
    at_tag, at_head = run_all(
        sidecar, model_endpoint, api_key, [(READ, TAG), (READ, None)], max_silence, diff=False
    )
    return at_tag, at_head


@pytest.fixture(scope="session")
def project_edits(
    sidecar: SidecarClient,
    model_endpoint: str,
    api_key: str,
    max_silence: float,
    target: TargetOptions,
) -> tuple[ProjectRun, ProjectRun]:
    """``project_edit`` twice at once (different marks), each with its diff."""
    fixture_or_skip(target)
    first, second = run_all(
        sidecar, model_endpoint, api_key, [(EDIT, None), (EDIT, None)], max_silence, diff=True
    )
    return first, second

"""PROJECT-*: a session works in its own checkout of the fixture project at its base, and
its change comes back as a summary, a diff and a branch (STREAM_RULES.md#project)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from contract import project_fixture, status_for, validate_component
from suites.agent._semantics import is_error, is_success, read_shows
from suites.checks.verdict import capability_absent, check, precondition_failed, violation
from suites.clientkit.client import SidecarClient, model_config, session_body
from suites.plugin.target import TargetOptions
from suites.project._diff import files_of
from suites.project._fixture import GitFailed, applied, files_on_disk, git
from suites.project._fixtures import (
    TAG,
    LocalFixture,
    ProjectRun,
    fixture_or_skip,
)

pytest_plugins = ("suites.project._fixtures",)

DIR_FLAG = "--project-dir"


def _project_dir(target: TargetOptions) -> Path:
    if target.project_dir is None:
        capability_absent("the target's PROJECT_DIR is not readable from here", flag=DIR_FLAG)
    return target.project_dir


def _read_output(run: ProjectRun, path: str) -> object:
    found = [r for a, r in run.reads_of("read") if a.get("filePath") == path]
    if not found:
        precondition_failed("SSE-TOOL-PAIRING", f"no read of {path} was reported")
    return found[0]


@pytest.mark.clause("PROJECT-BASE-CHECKOUT")
def test_a_session_reads_its_base_files(
    project_reads: tuple[ProjectRun, ProjectRun], local_fixture: LocalFixture
) -> None:
    fixture = project_fixture()
    at_tag, at_head = project_reads
    for run, commit, label in (
        (at_tag, local_fixture.tag_commit, f"base_ref {TAG}"),
        (at_head, local_fixture.head, "no base_ref (HEAD)"),
    ):
        files = local_fixture.files(commit)
        for path in ("src/greeting.txt", "README.md"):
            result = _read_output(run, path)
            shown = str(result.get("output", "")) if isinstance(result, dict) else ""
            check(
                is_success(result) and read_shows(shown, files[path]),
                f"{label}: a read of {path} must show exactly its content at that base",
                files[path],
                result,
            )
            for line in fixture.dirty.get(path, "").splitlines():
                if line not in files[path]:
                    check(
                        line not in shown,
                        f"{label}: {path} must not show the project's uncommitted edit",
                        files[path],
                        shown,
                    )
        untracked = [p for p in fixture.dirty if p not in files]
        for path in untracked:
            result = _read_output(run, path)
            check(
                is_error(result),
                f"{label}: {path} (untracked in the project) must not be in the checkout",
                "the tool error result",
                result,
            )
        base = run.change.get("base")
        check(
            base == commit,
            f"{label}: the change summary's base must be the commit the ref names",
            commit,
            base,
        )


@pytest.mark.clause("PROJECT-UNKNOWN-REF")
def test_an_unknown_base_is_refused(
    sidecar: SidecarClient, model_endpoint: str, api_key: str, target: TargetOptions
) -> None:
    fixture_or_skip(target)
    session_id = str(uuid.uuid4())
    body = session_body(
        session_id,
        "Play scenario project_read.",
        model_config("project_read", model_endpoint, api_key),
    )
    body["base_ref"] = f"no-such-ref-{session_id[:8]}"
    response = sidecar.call("createSession", json=body)
    if response.status_code == status_for("createSession", "created"):
        sidecar.cancel(session_id)
    wanted = status_for("createSession", "unknown_ref")
    check(
        response.status_code == wanted,
        "POST /sessions with an unknown base_ref must answer unknown_ref",
        wanted,
        response.status_code,
        response,
    )
    problems = validate_component("Error", response.json())
    check(not problems, "the refusal must carry the JSON error body", "Error", problems, response)
    status = sidecar.status(session_id)
    check(
        status.status_code == status_for("getSessionStatus", "not_found"),
        "no session may exist after the refusal",
        status_for("getSessionStatus", "not_found"),
        status.status_code,
        status,
    )


@pytest.mark.clause("PROJECT-ISOLATED")
def test_concurrent_sessions_see_only_their_own_edit(
    project_edits: tuple[ProjectRun, ProjectRun], local_fixture: LocalFixture
) -> None:
    path = project_fixture().edit["modify"]["path"]
    base = local_fixture.files(local_fixture.head)[path]
    marks = tuple(r.mark for r in project_edits)
    for run in project_edits:
        edits = run.reads_of("edit")
        check(
            bool(edits) and is_success(edits[0][1]),
            f"session {run.mark}: its edit of {path} must succeed",
            "the success result",
            edits[0][1] if edits else None,
        )
        own = run.edited(base, run.mark)
        check(
            run.final_text(base, marks) == own,
            f"session {run.mark}: its last read of {path} must show its own edit only",
            own,
            run.last_read(),
        )


def _own_files(
    run: ProjectRun, runs: tuple[ProjectRun, ...], local_fixture: LocalFixture
) -> dict[str, str]:
    marks = tuple(r.mark for r in runs)
    files = run.own_files(local_fixture.files(local_fixture.head), marks)
    if files is None:
        precondition_failed(
            "PROJECT-ISOLATED", f"session {run.mark}: its last read showed no known text"
        )
    return files


@pytest.mark.clause("PROJECT-DIFF-EXACT")
def test_the_diff_applied_to_the_base_gives_the_session_files(
    project_edits: tuple[ProjectRun, ProjectRun], local_fixture: LocalFixture
) -> None:
    for run in project_edits:
        response = run.diff
        assert response is not None
        wanted = status_for("getSessionDiff", "diff")
        check(
            response.status_code == wanted,
            "GET /diff answers",
            wanted,
            response.status_code,
            response,
        )
        base = response.headers.get("X-Base-Commit")
        check(
            base == local_fixture.head,
            "X-Base-Commit names the session's base (the fixture's HEAD)",
            local_fixture.head,
            base,
            response,
        )
        try:
            files = applied(local_fixture.path, local_fixture.head, response.text)
        except GitFailed as exc:
            violation(
                "git apply of the diff onto its base failed", "it applies", str(exc), response
            )
        expected = _own_files(run, project_edits, local_fixture)
        check(
            files == expected,
            f"session {run.mark}: git apply of its diff onto the base gives its files",
            expected,
            files,
            response,
        )


@pytest.mark.clause("PROJECT-SUMMARY")
def test_the_summary_agrees_with_the_diff(project_edits: tuple[ProjectRun, ProjectRun]) -> None:
    for run in project_edits:
        kind, data = run.terminal()
        change = data.get("change")
        problems = (
            validate_component("ChangeSummary", change)
            if isinstance(change, dict)
            else ["no change in the terminal event"]
        )
        check(not problems, f"the terminal {kind} event carries change", "ChangeSummary", problems)
        assert isinstance(change, dict)
        assert run.diff is not None
        from_diff = {
            f.path: {"status": f.status, "additions": f.additions, "deletions": f.deletions}
            for f in files_of(run.diff.text).values()
        }
        summary = {
            f["path"]: {k: f[k] for k in ("status", "additions", "deletions")}
            for f in change["files"]
        }
        check(summary == from_diff, "the summary's files are the diff's", from_diff, summary)
        check(
            change.get("base") == run.diff.headers.get("X-Base-Commit"),
            "the summary's base is the diff's X-Base-Commit",
            run.diff.headers.get("X-Base-Commit"),
            change.get("base"),
        )
        paths = sorted(summary)
        for where, listed in (
            ("event", data.get("files_modified")),
            ("status", run.status.get("files_modified")),
        ):
            check(
                sorted(listed or []) == paths,
                f"files_modified ({where}) lists exactly the summary's paths",
                paths,
                listed,
            )


@pytest.mark.clause("PROJECT-BRANCH")
def test_the_branch_holds_exactly_the_change(
    project_edits: tuple[ProjectRun, ProjectRun],
    local_fixture: LocalFixture,
    target: TargetOptions,
) -> None:
    project = _project_dir(target)
    for run in project_edits:
        change = run.change
        branch, commit = change.get("branch"), change.get("commit")
        if not branch or not commit:
            precondition_failed("PROJECT-SUMMARY", "the summary names no branch and commit")
        try:
            head = git(project, "rev-parse", "--verify", f"refs/heads/{branch}").strip()
        except GitFailed as exc:
            violation(f"branch {branch} must exist in the project", commit, str(exc))
        check(head == commit, f"branch {branch} points at the summary's commit", commit, head)
        parent = git(project, "rev-parse", f"{commit}^").strip()
        check(
            parent == change.get("base"),
            "the commit's parent is the base",
            change.get("base"),
            parent,
        )
        names = [
            n for n in git(project, "ls-tree", "-r", "-z", "--name-only", commit).split("\0") if n
        ]
        files = {n: git(project, "show", f"{commit}:{n}") for n in names}
        expected = _own_files(run, project_edits, local_fixture)
        check(files == expected, f"branch {branch} holds the session's files", expected, files)


@pytest.mark.clause("PROJECT-WORKTREE-UNTOUCHED")
def test_the_project_working_tree_is_untouched(
    project_edits: tuple[ProjectRun, ProjectRun],
    local_fixture: LocalFixture,
    target: TargetOptions,
) -> None:
    project = _project_dir(target)
    fixture = project_fixture()
    head = git(project, "symbolic-ref", "HEAD").strip()
    check(
        head == f"refs/heads/{fixture.branch}",
        "the project's HEAD is still its branch",
        f"refs/heads/{fixture.branch}",
        head,
    )
    commit = git(project, "rev-parse", "HEAD").strip()
    check(
        commit == local_fixture.head,
        "its branch is still at the same commit",
        local_fixture.head,
        commit,
    )
    expected = {**local_fixture.files(local_fixture.head), **fixture.dirty}
    found = files_on_disk(project)
    check(
        found == expected, "its working tree (dirty files included) is as before", expected, found
    )

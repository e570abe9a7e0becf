"""The reference with a project (STREAM_RULES.md#project): startup checks, what each ending
keeps, a refused commit, retention's clean-up; the PROJECT-* clauses themselves are judged by
suites/project (self-test pairs in tests/suites/test_faulty_selftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contract import retention_rules, status_for
from fakes.model_server import ModelServer
from fakes.project import make_project
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.app import create_app
from reference_server.config import Config, ConfigError
from reference_server.project import Project, ProjectError, ProjectSettings, open_project
from reference_server.serve import running
from suites.clientkit.client import AsyncSidecarClient, model_config
from suites.clientkit.harness import python_module
from tests.reference.conftest import base_config

HOOK = "reference-transaction"


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


class ProjectSidecar:
    def __init__(self, url: str, client: AsyncSidecarClient, model_url: str, project: Path):
        self.url, self.client, self.model_url, self.project = url, client, model_url, project

    async def start(self, scenario: str, prompt: str = "", **body: Any) -> str:
        session_id = str(uuid.uuid4())
        payload = {
            "session_id": session_id,
            "prompt": f"Play {scenario}. {prompt}",
            "model_config": model_config(scenario, self.model_url, "sk-test-key-123"),
            **body,
        }
        response = await self.client.call("createSession", json=payload)
        assert response.status_code == 201, response.text
        return session_id

    async def terminal(self, session_id: str) -> tuple[str, dict[str, Any]]:
        for _ in range(400):
            body = (await self.client.status(session_id)).json()
            if body["status"] != "running":
                break
            await asyncio.sleep(0.05)
        response = await self.client.http.get(f"/sessions/{session_id}/stream")
        kinds = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
        data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        return kinds[-1], json.loads(data[-1])


@pytest.fixture
async def project_sidecar(tmp_path: Path, model_server: ModelServer) -> Any:
    stack: list[Any] = []

    async def make(**overrides: Any) -> ProjectSidecar:
        project = tmp_path / "project"
        if not project.exists():
            make_project(project)
        config = Config(**{**base_config(tmp_path).__dict__, "project_dir": project, **overrides})
        config.workspace_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(
            config,
            FakeOpenCodeRuntime(read_timeout=config.model_read_timeout),
            project=open_project(config),
        )
        context = running(app, config)
        url = await context.__aenter__()
        client = AsyncSidecarClient(url)
        stack.append((context, client))
        return ProjectSidecar(url, client, model_server.url, project)

    yield make
    for context, client in reversed(stack):
        await client.http.aclose()
        await context.__aexit__(None, None, None)


def test_a_folder_that_is_not_a_repository_stops_startup_naming_the_setting(
    tmp_path: Path,
) -> None:
    with pytest.raises(ProjectError, match=r"^PROJECT_DIR=.* is not a git repository"):
        Project.open(ProjectSettings(tmp_path))
    with pytest.raises(ProjectError, match=r"^PROJECT_DIR=.* is not a directory"):
        Project.open(ProjectSettings(tmp_path / "absent"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_project_the_sidecar_cannot_write_stops_startup(tmp_path: Path) -> None:
    make_project(tmp_path / "p")
    objects = tmp_path / "p" / ".git" / "objects"
    objects.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ProjectError, match=r"^PROJECT_DIR=.* is not writable"):
            Project.open(ProjectSettings(tmp_path / "p"))
    finally:
        objects.chmod(stat.S_IRWXU)


def test_branch_and_author_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="PROJECT_BRANCH"):
        Config.from_env({"PROJECT_BRANCH": "opencode/fixed"})
    with pytest.raises(ConfigError, match="PROJECT_AUTHOR"):
        Config.from_env({"PROJECT_AUTHOR": "no email"})
    tuned = Config.from_env({"PROJECT_DIR": "/p", "PROJECT_BRANCH": "ai/{session_id}"})
    assert tuned.project_dir == Path("/p")
    assert tuned.project_branch == "ai/{session_id}"


async def test_a_completed_session_commits_to_its_branch_as_the_configured_author(
    project_sidecar: Callable[..., Any],
) -> None:
    sidecar: ProjectSidecar = await project_sidecar(project_author="Bot <bot@example.org>")
    head_before = git(sidecar.project, "rev-parse", "HEAD")
    status_before = git(sidecar.project, "status", "--porcelain")
    session_id = await sidecar.start("hello_write")
    event, data = await sidecar.terminal(session_id)
    assert event == "complete"
    change = data["change"]
    assert change["branch"] == f"opencode/{session_id}"
    assert [f["path"] for f in change["files"]] == ["hello.txt"] == data["files_modified"]
    assert git(sidecar.project, "rev-parse", change["branch"]) == change["commit"]
    assert git(sidecar.project, "log", "-1", "--format=%an <%ae>", change["commit"]) == (
        "Bot <bot@example.org>"
    )
    assert git(sidecar.project, "rev-parse", "HEAD") == head_before
    assert git(sidecar.project, "status", "--porcelain") == status_before


async def test_a_session_that_changes_nothing_makes_no_commit(
    project_sidecar: Callable[..., Any],
) -> None:
    sidecar: ProjectSidecar = await project_sidecar()
    session_id = await sidecar.start("quick")
    event, data = await sidecar.terminal(session_id)
    assert event == "complete"
    assert data["change"]["files"] == []
    assert data["change"]["branch"] is None and data["change"]["commit"] is None
    diff = await sidecar.client.call("getSessionDiff", path={"session_id": session_id})
    assert diff.status_code == status_for("getSessionDiff", "diff")
    assert diff.text == ""


async def test_a_cancelled_session_keeps_its_change_on_its_branch(
    project_sidecar: Callable[..., Any],
) -> None:
    sidecar: ProjectSidecar = await project_sidecar()
    session_id = await sidecar.start("sandbox_peer")  # writes a file, then stays running
    for _ in range(200):
        diff = await sidecar.client.call("getSessionDiff", path={"session_id": session_id})
        if "sandbox_canary.txt" in diff.text:  # the diff so far, while it runs
            break
        await asyncio.sleep(0.05)
    assert "sandbox_canary.txt" in diff.text
    assert (await sidecar.client.cancel(session_id)).status_code == status_for(
        "cancelSession", "cancelled"
    )
    event, data = await sidecar.terminal(session_id)
    assert (event, data["status"]) == ("status", "cancelled")
    assert [f["path"] for f in data["change"]["files"]] == ["sandbox_canary.txt"]
    assert git(sidecar.project, "show", f"{data['change']['branch']}:sandbox_canary.txt")


async def test_a_refused_commit_ends_the_session_with_commit_failed_and_keeps_the_checkout(
    project_sidecar: Callable[..., Any],
) -> None:
    sidecar: ProjectSidecar = await project_sidecar(session_retention=0.5)
    hook = sidecar.project / ".git" / "hooks" / HOOK
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    session_id = await sidecar.start("hello_write")
    event, data = await sidecar.terminal(session_id)
    assert event == "error"
    assert (data["fatal"], data["code"]) == (True, "commit_failed")
    await asyncio.sleep(retention_rules().gone_by(0.5))
    gone = await sidecar.client.status(session_id)
    assert gone.status_code == retention_rules().expired_status("getSessionStatus")
    kept = base_config(sidecar.project.parent).workspace_dir / session_id / "hello.txt"
    assert kept.read_text() == "hello world\n"


async def test_retention_removes_the_checkout_and_keeps_the_branch(
    project_sidecar: Callable[..., Any],
) -> None:
    sidecar: ProjectSidecar = await project_sidecar(session_retention=0.5)
    session_id = await sidecar.start("hello_write")
    _, data = await sidecar.terminal(session_id)
    checkout = base_config(sidecar.project.parent).workspace_dir / session_id
    assert checkout.is_dir()
    await asyncio.sleep(retention_rules().gone_by(0.5))
    gone = await sidecar.client.call("getSessionDiff", path={"session_id": session_id})
    assert gone.status_code == status_for("getSessionDiff", "not_found")
    assert not checkout.exists()
    assert not (sidecar.project / ".git" / "opencode-sidecar" / f"{session_id}.index").exists()
    assert git(sidecar.project, "rev-parse", data["change"]["branch"]) == data["change"]["commit"]


async def test_without_a_project_base_ref_is_ignored_and_nothing_changes(
    make_sidecar: Callable[..., Any],
) -> None:
    sidecar = await make_sidecar()
    session_id = str(uuid.uuid4())
    response = await sidecar.client.call(
        "createSession",
        json={
            "session_id": session_id,
            "prompt": "Play hello_write.",
            "model_config": sidecar.config_for("hello_write"),
            "base_ref": "no-such-ref",
        },
    )
    assert response.status_code == status_for("createSession", "created")
    assert not (sidecar.config.workspace_dir / session_id / "README.md").exists()
    diff = await sidecar.client.call("getSessionDiff", path={"session_id": session_id})
    assert diff.status_code == status_for("getSessionDiff", "not_found")


def test_serve_with_a_project_that_is_not_a_repository_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        python_module(
            "opencode_sidecar.serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--workspace",
            str(tmp_path / "ws"),
            "--project-dir",
            str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"opencode-sidecar: PROJECT_DIR={tmp_path} is not a git repository")

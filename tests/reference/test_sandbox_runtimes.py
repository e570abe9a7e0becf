"""Confinement on both runtimes, the real OpenCode included: from bash and from the file
tools, the store's database, a running peer's file (directly and through a symlink) and
the sidecar's ``/proc/PID/environ`` end as failed tool results, and nothing outside the
session's workspace is written (scenario ``sandbox_probe_paths``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.project import make_project
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import ServerProcess, reference_argv, start_server
from suites.security.test_bash_sandbox import PEER_CANARY

SECRET = "sandbox-test-secret-5150"
KEY = "sk-sandbox-test-key"
SQLITE_HEADER = "SQLite format 3"


@pytest.fixture(params=["fake", "opencode"])
def sidecar(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, Path, Path]]:
    runtime = str(request.param)
    env = {"OPENCODE_SHARED_SECRET": SECRET}
    if runtime == "opencode":
        env["OPENCODE_BIN"] = str(request.getfixturevalue("opencode_bin"))
    workspace, storage = tmp_path / "ws", tmp_path / "storage"
    argv = reference_argv(workspace, "--runtime", runtime, "--storage-dir", str(storage))
    with start_server(argv, env=env, timeout=120) as server:
        yield server, workspace, storage


def _events(client: SidecarClient, session_id: str) -> list[tuple[str, dict[str, object]]]:
    stream = client.collect(session_id, read_timeout=90)
    return [(e.event, json.loads(e.data)) for e in stream.events if e.event != "heartbeat"]


def _start(client: SidecarClient, model_url: str, scenario: str, prompt: str) -> str:
    session_id = str(uuid.uuid4())
    config = model_config(scenario, model_url, KEY)
    created = client.create_session(session_id, prompt, config)
    assert created.status_code == 201, created.text
    return session_id


def test_nothing_outside_the_workspace_is_reachable(
    sidecar: tuple[ServerProcess, Path, Path], model_url: str
) -> None:
    server, workspace, storage = sidecar
    database = storage / "sidecar.db"
    with SidecarClient(server.url, secret=SECRET) as client:
        peer = _start(client, model_url, "sandbox_peer", "Be the peer.")
        deadline = time.monotonic() + 60
        while not (workspace / peer / "sandbox_canary.txt").exists():
            assert time.monotonic() < deadline, "the peer never wrote its canary"
            time.sleep(0.2)
        prompt = f"Probe. db={database} peer={peer} pid={server.process.pid}"
        probe = _start(client, model_url, "sandbox_probe_paths", prompt)
        events = _events(client, probe)
        client.cancel(peer)
    assert database.exists() and SQLITE_HEADER in database.read_bytes().decode("latin-1")
    assert events[-1][0] == "complete", events[-1]
    results = [d for k, d in events if k == "tool_result"]
    reads = [d for d in results if d["tool"] == "read"]
    assert len(reads) == 4, results
    for result in reads:
        assert "error" in result["result"], result  # every read refused or failed
    shown = json.dumps([d["result"] for d in results])
    for secret in (SQLITE_HEADER, PEER_CANARY, SECRET, KEY):
        assert secret not in shown
    assert not (workspace / "probe_escape.txt").exists()
    assert {p.name for p in (workspace / probe).iterdir()} <= {"db_link", "peer_link"}


@pytest.fixture(params=["fake", "opencode"])
def project_sidecar(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """A sidecar with a project (the fixture): each session works in a checkout of it."""
    runtime = str(request.param)
    env = {"OPENCODE_SHARED_SECRET": SECRET}
    if runtime == "opencode":
        env["OPENCODE_BIN"] = str(request.getfixturevalue("opencode_bin"))
    workspace, project = tmp_path / "ws", tmp_path / "project"
    make_project(project)
    argv = reference_argv(workspace, "--runtime", runtime, "--project-dir", str(project))
    with start_server(argv, env=env, timeout=120) as server:
        yield server, workspace, project


def test_a_checkout_reaches_neither_the_project_nor_a_peer_checkout(
    project_sidecar: tuple[ServerProcess, Path, Path], model_url: str
) -> None:
    server, workspace, project = project_sidecar
    git_dir = project / ".git"
    refs_before = sorted(p.name for p in (git_dir / "refs" / "heads").rglob("*"))
    with SidecarClient(server.url, secret=SECRET) as client:
        peer = _start(client, model_url, "sandbox_peer", "Be the peer.")
        deadline = time.monotonic() + 60
        while not (workspace / peer / "sandbox_canary.txt").exists():
            assert time.monotonic() < deadline, "the peer never wrote its canary"
            time.sleep(0.2)
        assert (workspace / peer / "src" / "greeting.txt").is_file()  # a checkout indeed
        prompt = f"Probe. git={git_dir} project={project} peer={peer}"
        probe = _start(client, model_url, "sandbox_probe_project", prompt)
        events = _events(client, probe)
        client.cancel(peer)
    assert events[-1][0] == "complete", events[-1]
    results = [d for k, d in events if k == "tool_result"]
    reads = [d for d in results if d["tool"] == "read"]
    assert len(reads) == 3, results
    for result in reads:
        assert "error" in result["result"], result
    shown = json.dumps([d["result"] for d in results])
    for secret in (PEER_CANARY, "Fixture project", "hello from v2", "refs/heads/main"):
        assert secret not in shown
    assert not (git_dir / "objects" / "escape").exists()
    refs_after = sorted(p.name for p in (git_dir / "refs" / "heads").rglob("*"))
    assert "escape" not in refs_after and "escape2" not in refs_after
    assert set(refs_after) - set(refs_before) <= {"opencode", peer, probe}

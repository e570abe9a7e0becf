"""The sandbox layer: the kernel's confinement of a launched command (real Landlock), the
fake runtime's confined tools, ``SANDBOX`` and what startup and ``/ready`` say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from contract import validate_component
from fakes.confined_tools import ConfinedWorkspaceTools
from fakes.runtime import FakeOpenCodeRuntime
from fakes.workspace_files import ToolError
from reference_server import sandbox as sandbox_module
from reference_server.app import create_app
from reference_server.config import Config, ConfigError
from reference_server.sandbox import Sandbox, SandboxUnavailable
from reference_server.sandbox.startup import sandbox_for
from reference_server.serve import running
from suites.clientkit.waiting import wait_until

CONFINED = Sandbox.probe("required")


@pytest.fixture
def two_workspaces(tmp_path: Path) -> tuple[Path, Path]:
    mine, other = tmp_path / "ws" / "mine", tmp_path / "ws" / "other"
    mine.mkdir(parents=True)
    other.mkdir()
    (other / "secret.txt").write_text("other session's data")
    (mine / "link").symlink_to(other / "secret.txt")
    return mine, other


def _launch(workspace: Path, command: str) -> subprocess.CompletedProcess[str]:
    argv = CONFINED.command(["/bin/sh", "-c", command], read_write=[workspace])
    return subprocess.run(argv, cwd=workspace, capture_output=True, text=True, check=False)


def test_a_launched_command_reads_and_writes_its_workspace_only(
    two_workspaces: tuple[Path, Path],
) -> None:
    mine, _ = two_workspaces
    done = _launch(mine, "echo hi > own.txt && cat own.txt && ls /usr/bin >/dev/null && echo ran")
    assert done.stdout.split() == ["hi", "ran"], done.stderr
    for command in (
        "cat ../other/secret.txt",
        "cat link",
        "cat /etc/passwd",
        "ls ..",
        "echo x > ../escape.txt",
        f"cat /proc/{__import__('os').getpid()}/environ",
    ):
        done = _launch(mine, command)
        assert done.returncode != 0, command
        assert "Permission denied" in done.stderr, (command, done.stderr)
    assert not (mine.parent / "escape.txt").exists()


def _capabilities(pid: int) -> dict[str, int]:
    """The capability sets of ``pid``, read from outside (its ``/proc/PID/status``)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v, 16) for k, v in (line.split(":\t") for line in lines) if k.startswith("Cap")}


def test_the_launcher_drops_every_capability(tmp_path: Path) -> None:
    """Read by this process, which can read ``/proc`` (the confined command may not): a
    ``/proc`` this process cannot read skips the test instead of passing it."""
    try:
        ours = _capabilities(os.getpid())
    except OSError as exc:
        pytest.skip(f"cannot read /proc/PID/status here ({exc}): capabilities not checked")
    argv = CONFINED.command(["/bin/sleep", "30"], read_write=[tmp_path])
    child = subprocess.Popen(argv, cwd=tmp_path)
    try:
        cmdline = Path(f"/proc/{child.pid}/cmdline")
        wait_until(
            lambda: cmdline.read_bytes().startswith(b"/bin/sleep"), 10.0, "the command exec'd"
        )
        theirs = _capabilities(child.pid)
    finally:
        child.kill()
        child.wait()
    assert {k: theirs[k] for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")} == dict.fromkeys(
        ("CapInh", "CapPrm", "CapEff", "CapAmb"), 0
    ), theirs
    if ours["CapEff"]:  # a privileged sidecar (root): the bounding set goes too
        assert theirs["CapBnd"] == 0, theirs


async def test_the_fake_runtimes_tools_are_confined_by_the_kernel(
    two_workspaces: tuple[Path, Path],
) -> None:
    mine, _ = two_workspaces
    tools = ConfinedWorkspaceTools(mine, 5.0, sandbox=CONFINED)
    wrote = await tools.run("write", {"filePath": "a/b.txt", "content": "x"})
    assert wrote.startswith("wrote")
    assert await tools.run("read", {"filePath": "a/b.txt"}) == "x"
    assert tools.modified == ["a/b.txt"]
    with pytest.raises(ToolError, match="Permission denied"):
        await tools.run("bash", {"command": "cat ../other/secret.txt"})
    with pytest.raises(ToolError):
        await tools.run("read", {"filePath": "link"})


async def test_the_file_tools_child_is_refused_by_the_kernel_past_the_checks(
    two_workspaces: tuple[Path, Path],
) -> None:
    """The child's own path checks are skipped here (a missed case, a race): the kernel
    still refuses what lies outside the workspace."""
    mine, _ = two_workspaces
    tools = ConfinedWorkspaceTools(mine, 5.0, sandbox=CONFINED)
    code = (
        "import sys, fakes.workspace_files as f; f.WorkspaceFiles.resolve = lambda self, raw: "
        "self.root / raw; sys.argv[1:] = [sys.argv[1]]; import runpy; "
        "runpy.run_module('fakes.confined_io', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(mine)],
        input=b'{"tool": "read", "args": {"filePath": "link"}}',
        capture_output=True,
        check=False,
    )
    assert b"refused by the sandbox" in done.stdout, done
    assert tools.modified == []


def test_sandbox_off_and_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    off = Sandbox.probe("off")
    assert not off.confining and off.command(["true"], [Path("/x")]) == ["true"]
    assert "SANDBOX=off" in off.status_line()
    monkeypatch.setattr(sandbox_module, "abi_version", lambda: 0)
    monkeypatch.setattr(sandbox_module, "unavailable_reason", lambda: "no Landlock here")
    with pytest.raises(SandboxUnavailable, match="SANDBOX=best-effort"):
        Sandbox.probe("required")
    with pytest.raises(ConfigError, match="SANDBOX=required but no Landlock here"):
        sandbox_for(Config(sandbox="required"))
    unconfined = sandbox_for(Config(sandbox="best-effort"))
    assert unconfined.details() == {
        "mode": "best-effort",
        "confined": False,
        "reason": "no Landlock here",
    }
    assert "UNAVAILABLE (no Landlock here)" in unconfined.status_line()


def test_the_setting_is_read_once_and_a_bad_value_names_it() -> None:
    assert Config.from_env({"SANDBOX": "Best-Effort"}).sandbox == "best-effort"
    assert Config.from_env({}).sandbox == "required"
    with pytest.raises(ConfigError, match="SANDBOX='maybe'"):
        Config.from_env({"SANDBOX": "maybe"})


@pytest.mark.parametrize(
    "sandbox", [CONFINED, Sandbox("best-effort", 0, "no Landlock here")], ids=["on", "off"]
)
async def test_ready_reports_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    config = Config(host="127.0.0.1", port=0, workspace_dir=tmp_path)
    runtime = FakeOpenCodeRuntime(sandbox=sandbox)
    app: web.Application = create_app(config, runtime)
    async with running(app, config) as url, httpx.AsyncClient() as client:
        body = (await client.get(f"{url}/ready")).json()
    assert body["sandbox"] == sandbox.details()
    assert body["sandbox"]["confined"] is sandbox.confining
    assert validate_component("Ready", body) == []


SIDECAR_DYING = """
import os, signal, subprocess, sys, time
from pathlib import Path
from reference_server.sandbox import Sandbox
when, workspace = sys.argv[1:]
argv = Sandbox.probe("required").command(["/bin/sleep", "30"], read_write=[Path(workspace)])
child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
cmdline = Path(f"/proc/{child.pid}/cmdline")
while when == "running" and not cmdline.read_bytes().startswith(b"/bin/sleep"):
    time.sleep(0.01)  # until the launcher has exec'd the confined command
os.kill(os.getpid(), signal.SIGKILL)
"""
"""A sidecar that starts a confined command and is killed with ``kill -9``: while the
command runs, or at once (before the launcher could arm its parent-death signal)."""


@pytest.mark.parametrize("when", ["running", "starting"])
def test_a_launched_command_dies_with_the_sidecar(tmp_path: Path, when: str) -> None:
    """Even a ``kill -9`` of the sidecar leaves no confined OpenCode or bash behind: a
    running command is killed with it, and one it was starting never runs."""
    done = subprocess.run(
        [sys.executable, "-c", SIDECAR_DYING, when, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    child = Path(f"/proc/{int(done.stdout)}")
    wait_until(
        lambda: not child.exists() or "Z" in _state(child), 10.0, "the confined command gone"
    )


def _state(proc: Path) -> str:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.mark.parametrize("abi", [1, 2, 3, 4, 5, 6, 7])
def test_each_abi_handles_only_the_rights_it_knows(abi: int) -> None:
    from reference_server.sandbox.landlock import Access, handled_rights

    rights = handled_rights(abi)
    assert bool(rights & Access.REFER) is (abi >= 2)
    assert bool(rights & Access.TRUNCATE) is (abi >= 3)
    assert bool(rights & Access.IOCTL_DEV) is (abi >= 5)


def test_the_launchers_system_paths_are_the_contracts_and_it_imports_no_contract() -> None:
    """policy.py writes tools.yaml ``sandbox:`` out (the launcher runs before every confined
    command: importing ``contract`` there cost ~0.3 s per bash call)."""
    from contract import tool_contract
    from reference_server.sandbox.policy import DEVICES, SYSTEM_READ_ONLY

    assert tool_contract().sandbox.readable == SYSTEM_READ_ONLY
    assert tool_contract().sandbox.devices == DEVICES
    probe = "import sys, reference_server.sandbox.launch; print('contract' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"

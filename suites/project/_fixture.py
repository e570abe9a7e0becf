"""The fixture project as the verifier knows it: its own copy, made by the same generator
(``python -m fakes project``, a subprocess: the suites never import fakes), whose commit ids
are the target's (fixed names and dates), and git commands to judge with."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from suites.clientkit.harness import python_module


class GitFailed(Exception):
    """A git command of the verifier failed (its stderr's first line)."""


def git(directory: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=directory,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise GitFailed((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0])
    return done.stdout


def make_local_fixture(directory: Path) -> Path:
    """The fixture project in ``directory/project`` (the generator, as a subprocess)."""
    project = directory / "project"
    subprocess.run(
        python_module("fakes", "project", str(project)),
        check=True,
        capture_output=True,
    )
    return project


def commit_of(project: Path, ref: str) -> str:
    return git(project, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()


def files_of_commit(project: Path, commit: str) -> dict[str, str]:
    """path -> text of every file of ``commit``."""
    names = [n for n in git(project, "ls-tree", "-r", "-z", "--name-only", commit).split("\0") if n]
    return {name: git(project, "show", f"{commit}:{name}") for name in names}


def files_on_disk(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def applied(project: Path, base: str, diff: str) -> dict[str, str]:
    """The files of ``base`` with ``diff`` applied by ``git apply`` (raises GitFailed)."""
    with tempfile.TemporaryDirectory(prefix="ocs-project-apply-") as tmp:
        root = Path(tmp)
        for path, text in files_of_commit(project, base).items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if diff.strip():
            git(root, "apply", "--whitespace=nowarn", "-", stdin=diff)
        return files_on_disk(root)

"""``python -m fakes project DIR``: the fixture project (``contract/project_fixture.yaml``).

A git repository with the fixture's commits on its branch, its tag, and its dirty working
tree, with fixed names and dates: the same commit ids on every machine, so that a verifier
knows the base commits of a target it cannot read. Hand-written over a few ``git`` calls:
no library makes a repository with chosen dates more simply.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from contract import project_fixture


class FixtureError(Exception):
    """DIR cannot take the fixture (not empty, git missing)."""


def _git(directory: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise FixtureError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _write(directory: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def make_project(directory: Path) -> dict[str, str]:
    """Make the fixture in ``directory`` (absent or empty); returns ref -> commit id."""
    fixture = project_fixture()
    if directory.exists() and any(directory.iterdir()):
        raise FixtureError(f"{directory} is not empty; give a new folder")
    directory.mkdir(parents=True, exist_ok=True)
    who = fixture.author
    env = {
        # hermetic: nothing of the caller's git configuration (the same commit ids anywhere)
        "PATH": os.defpath,
        "GIT_AUTHOR_NAME": who["name"],
        "GIT_AUTHOR_EMAIL": who["email"],
        "GIT_AUTHOR_DATE": who["date"],
        "GIT_COMMITTER_NAME": who["name"],
        "GIT_COMMITTER_EMAIL": who["email"],
        "GIT_COMMITTER_DATE": who["date"],
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    _git(directory, "init", "--quiet", "--initial-branch", fixture.branch, env=env)
    refs: dict[str, str] = {}
    for index, commit in enumerate(fixture.commits):
        _write(directory, commit.files)
        _git(directory, "add", "--all", env=env)
        _git(directory, "commit", "--quiet", "--no-verify", "-m", commit.message, env=env)
        if commit.tag:
            _git(directory, "tag", "-a", commit.tag, "-m", commit.tag, env=env)
            refs[commit.tag] = _git(directory, "rev-parse", "HEAD", env=env)
        back = len(fixture.commits) - 1 - index
        name = f"{fixture.branch}~{back}" if back else fixture.branch
        refs[name] = _git(directory, "rev-parse", "HEAD", env=env)
    _write(directory, fixture.dirty)
    return refs


def main(directory: Path) -> int:
    refs = make_project(directory)
    print(f"fixture project in {directory}")
    for ref, commit in refs.items():
        print(f"  {ref:8} {commit}")
    return 0

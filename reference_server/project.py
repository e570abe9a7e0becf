"""The project a sidecar works on (``PROJECT_DIR``): a checkout per session, its change back.

How a session gets its checkout, and why this way (``contract/STREAM_RULES.md#project``):

* The checkout is the **files only**: ``git read-tree --reset -u <base>`` with an index the
  sidecar keeps for the session (``<git dir>/opencode-sidecar/<session_id>.index``) and
  ``WORKSPACE_DIR/<session_id>`` as the work tree. The folder holds no
  ``.git``: a git worktree's ``.git`` file points into ``PROJECT_DIR/.git/worktrees/``, and
  a ``clone --shared`` reads the project's object store, so either would need the
  project's ``.git`` inside the Landlock domain of the session's tools (for reading at
  least, for writing to commit). Here the tools' domain stays the folder itself: another
  session's checkout, the project's ``.git`` and the store are out of reach.
* The sidecar (never the agent, never the runtime) runs git, unconfined, with ``GIT_DIR``,
  ``GIT_WORK_TREE`` and ``GIT_INDEX_FILE`` set: the project's own working tree, index and
  ``HEAD`` are never touched, so a dirty project is fine (checkouts come from commits).
* The change is ``git add -A`` into the session's index, ``git write-tree`` and a diff of
  that tree against the base (the project's ``.gitignore`` rules apply, renames are not
  detected: every path is added, modified or deleted). At the end it is committed
  (``commit-tree``, author and committer from ``PROJECT_AUTHOR``) onto the branch
  ``PROJECT_BRANCH`` names, with ``update-ref``: plumbing, so no commit hook runs, but a
  ``reference-transaction`` hook or a full disk can still refuse it (:class:`CommitError`).

git is run as a subprocess (asyncio) rather than through pygit2 or dulwich: the checkout,
``add -A`` with ``.gitignore`` and the binary-safe unified diff are git's own behaviour,
which a library re-implements (dulwich) or binds to a libgit2 whose ignore and diff
rules differ in details; the sidecar's image has git for OpenCode anyway.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.config import Config

SESSION_ID_FIELD = "{session_id}"
INDEX_DIR = "opencode-sidecar"
"""Under the project's git dir: one index per session (the sidecar's, not the agent's)."""


class ProjectError(Exception):
    """``PROJECT_DIR`` cannot be used; the message is one line naming the setting."""


class UnknownRefError(Exception):
    """``base_ref`` names no commit of the project."""


class GitError(Exception):
    """A git command failed; ``str()`` is its first line of stderr."""


class CommitError(GitError):
    """The session's change could not be committed (a hook refused it, the disk is full)."""


@dataclass(frozen=True)
class ProjectSettings:
    """``PROJECT_DIR``, ``PROJECT_BRANCH`` and ``PROJECT_AUTHOR``, as the config gives them."""

    directory: Path
    branch_pattern: str = Config.project_branch  # the declared defaults (config.py)
    author: str = Config.project_author
    environ: Mapping[str, str] = field(default_factory=dict)
    """The sidecar's environment (the composition root's): git runs with it, less its own
    ``GIT_*`` variables (which would point git at another repository or index)."""

    def branch_for(self, session_id: str) -> str:
        return self.branch_pattern.replace(SESSION_ID_FIELD, session_id)

    @property
    def author_name(self) -> str:
        return self.author.split("<", 1)[0].strip()

    @property
    def author_email(self) -> str:
        return self.author.split("<", 1)[1].rstrip(">").strip() if "<" in self.author else ""


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str
    """``added``, ``modified`` or ``deleted``."""
    additions: int
    deletions: int


@dataclass(frozen=True)
class Change:
    """A session's change against its base (the terminal event's ``change``)."""

    base_ref: str
    base: str
    files: tuple[FileChange, ...] = ()
    branch: str | None = None
    commit: str | None = None
    tree: str = field(default="", compare=False)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "base_ref": self.base_ref,
            "base": self.base,
            "branch": self.branch,
            "commit": self.commit,
            "files": [
                {
                    "path": f.path,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                }
                for f in self.files
            ],
        }


STATUS_LETTERS = {"A": "added", "M": "modified", "D": "deleted", "T": "modified"}


def _git_sync(git_dir: Path | None, *args: str, cwd: Path | None = None) -> str:
    argv = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *args]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GitError((done.stderr.strip().splitlines() or ["git failed"])[0])
    return done.stdout.strip()


class Project:
    """One git repository the sessions of a sidecar check out and commit to."""

    def __init__(self, settings: ProjectSettings, git_dir: Path) -> None:
        self.settings = settings
        self.git_dir = git_dir
        self._locks: dict[str, asyncio.Lock] = {}
        self._base_trees: dict[str, str] = {}

    @classmethod
    def open(cls, settings: ProjectSettings) -> Project:
        """Check ``PROJECT_DIR`` at startup: a git repository the sidecar can write to."""
        directory = settings.directory
        if not directory.is_dir():
            raise ProjectError(f"PROJECT_DIR={directory} is not a directory; fix or unset it")
        try:
            raw = _git_sync(None, "rev-parse", "--absolute-git-dir", cwd=directory)
        except (GitError, OSError) as exc:
            raise ProjectError(
                f"PROJECT_DIR={directory} is not a git repository ({exc}); fix or unset it"
            ) from None
        git_dir = Path(raw)
        if not os.access(git_dir, os.W_OK | os.X_OK) or not os.access(
            git_dir / "objects", os.W_OK | os.X_OK
        ):
            raise ProjectError(
                f"PROJECT_DIR={directory} is not writable by the sidecar ({git_dir}): "
                "sessions commit their change there"
            )
        try:
            _git_sync(git_dir, "check-ref-format", "--branch", settings.branch_for("s-1"))
        except GitError:
            raise ProjectError(
                f"PROJECT_BRANCH={settings.branch_pattern!r} makes no valid branch name"
            ) from None
        (git_dir / INDEX_DIR).mkdir(exist_ok=True)
        return cls(settings, git_dir)

    # ------------------------------------------------------------------ git
    def _env(self, session_id: str | None, work_tree: Path | None) -> dict[str, str]:
        env = {
            k: v
            for k, v in self.settings.environ.items()
            if not k.startswith("GIT_") or k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")
        }
        env["GIT_DIR"] = str(self.git_dir)
        if session_id is not None:
            env["GIT_INDEX_FILE"] = str(self.index_path(session_id))
        if work_tree is not None:
            env["GIT_WORK_TREE"] = str(work_tree)
        return env

    async def _git(
        self,
        *args: str,
        session_id: str | None = None,
        work_tree: Path | None = None,
        env: Mapping[str, str] | None = None,
        error: type[GitError] = GitError,
    ) -> str:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=work_tree or self.git_dir,
            env={**self._env(session_id, work_tree), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise error(f"git {args[0]}: {lines[0] if lines else f'exit {process.returncode}'}")
        return out.decode(errors="surrogateescape")

    def index_path(self, session_id: str) -> Path:
        return self.git_dir / INDEX_DIR / f"{session_id}.index"

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    # ------------------------------------------------------------------ sessions
    async def resolve(self, ref: str | None) -> str:
        """The commit ``ref`` names (``None``: the project's ``HEAD``)."""
        name = ref or "HEAD"
        if name.startswith("-"):
            raise UnknownRefError(name)
        try:
            out = await self._git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        except GitError:
            raise UnknownRefError(name) from None
        return out.strip()

    async def check_out(self, session_id: str, base: str, checkout: Path) -> None:
        """Fill ``checkout`` (an empty folder) with the files of commit ``base``."""
        async with self._lock(session_id):
            await self._git(
                "read-tree", "--reset", "-u", base, session_id=session_id, work_tree=checkout
            )

    async def _tree(self, session_id: str, checkout: Path) -> str:
        async with self._lock(session_id):
            await self._git("add", "-A", ".", session_id=session_id, work_tree=checkout)
            return (await self._git("write-tree", session_id=session_id)).strip()

    async def change(self, session_id: str, base_ref: str, base: str, checkout: Path) -> Change:
        """The change of ``checkout`` against ``base`` so far (nothing committed)."""
        tree = await self._tree(session_id, checkout)
        if tree == await self._base_tree(base):  # nothing changed: no diff to run
            return Change(base_ref, base, (), tree=tree)
        return Change(base_ref, base, await self._files(base, tree), tree=tree)

    async def _base_tree(self, base: str) -> str:
        if base not in self._base_trees:
            self._base_trees[base] = (await self._git("rev-parse", f"{base}^{{tree}}")).strip()
        return self._base_trees[base]

    async def _files(self, base: str, tree: str) -> tuple[FileChange, ...]:
        """Each path that differs: ``--raw`` gives its status, ``--numstat`` its lines."""
        out = await self._git(
            "diff-tree", "-r", "--no-renames", "-z", "--raw", "--numstat", base, tree
        )
        tokens = iter(out.split("\0"))
        statuses: dict[str, str] = {}
        lines: dict[str, tuple[int, int]] = {}
        for token in tokens:
            if token.startswith(":"):
                statuses[next(tokens, "")] = STATUS_LETTERS.get(token.split()[-1][:1], "modified")
            elif token.count("\t") >= 2:
                plus, minus, path = token.split("\t", 2)
                lines[path] = (int(plus) if plus != "-" else 0, int(minus) if minus != "-" else 0)
        return tuple(
            FileChange(path, status, *lines.get(path, (0, 0)))
            for path, status in sorted(statuses.items())
        )

    async def diff(self, base: str, tree_or_commit: str) -> str:
        """The unified diff from ``base`` to a tree or commit (binary-safe, for git apply)."""
        return await self._git(
            "diff-tree",
            "-r",
            "-p",
            "--binary",
            "--no-renames",
            "--full-index",
            base,
            tree_or_commit,
        )

    async def diff_so_far(self, session_id: str, base: str, checkout: Path) -> str:
        return await self.diff(base, await self._tree(session_id, checkout))

    async def commit(
        self, session_id: str, base_ref: str, base: str, checkout: Path, message: str
    ) -> Change:
        """Commit the checkout onto the session's branch; no change: no commit, no branch."""
        change = await self.change(session_id, base_ref, base, checkout)
        if not change.files:
            return change
        who = {
            "GIT_AUTHOR_NAME": self.settings.author_name,
            "GIT_AUTHOR_EMAIL": self.settings.author_email,
            "GIT_COMMITTER_NAME": self.settings.author_name,
            "GIT_COMMITTER_EMAIL": self.settings.author_email,
        }
        commit = (
            await self._git(
                "commit-tree", change.tree, "-p", base, "-m", message, env=who, error=CommitError
            )
        ).strip()
        branch = self.settings.branch_for(session_id)
        await self._git(
            "update-ref",
            "-m",
            f"opencode-sidecar: session {session_id}",
            f"refs/heads/{branch}",
            commit,
            error=CommitError,
        )
        return Change(base_ref, base, change.files, branch, commit, change.tree)

    def remove_checkout(self, session_id: str, checkout: Path) -> None:
        """Remove a session's checkout and its index (retention); its branch stays."""
        shutil.rmtree(checkout, ignore_errors=True)
        self.index_path(session_id).unlink(missing_ok=True)
        self._locks.pop(session_id, None)


def open_project(config: Config, environ: Mapping[str, str] | None = None) -> Project | None:
    """The project ``PROJECT_DIR`` names, checked (startup); ``None`` without one.
    ``environ``: the sidecar's environment, which git runs with (default: none but git's
    own defaults)."""
    if config.project_dir is None:
        return None
    settings = ProjectSettings(
        config.project_dir, config.project_branch, config.project_author, dict(environ or {})
    )
    return Project.open(settings)


def change_paths(summary: Mapping[str, Any] | None) -> Sequence[str]:
    """``files_modified`` derived from a change summary: its paths, in path order."""
    if not summary:
        return ()
    return tuple(str(f["path"]) for f in summary.get("files", ()))

"""Project faults (the ``PROJECT-*`` clauses of the ``project`` suite): the reference with a
project (``PROJECT_DIR``), with one thing wrong in how a session's checkout is made or how
its change comes back. Each replaces one method of the app's :class:`Project`."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from fakes.faults.fault import Fault
from fakes.faults.kit import answered, on_responses
from reference_server.keys import store_key
from reference_server.project import Change, FileChange, Project, UnknownRefError


def _project(app: web.Application) -> Project:
    project = app[store_key].project
    if project is None:
        raise SystemExit("this fault needs a project: start it with --project-dir")
    return project


def _wrap(app: web.Application, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    project = _project(app)
    setattr(project, name, make(getattr(project, name)))


def base_ignored(app: web.Application) -> None:
    """Checks that ``base_ref`` exists, then checks out ``HEAD`` whatever it named."""

    def make(resolve: Callable[[str | None], Awaitable[str]]) -> Callable[..., Awaitable[str]]:
        async def resolved(ref: str | None) -> str:
            await resolve(ref)
            return await resolve(None)

        return resolved

    _wrap(app, "resolve", make)


def unknown_ref_is_head(app: web.Application) -> None:
    """A ``base_ref`` that names nothing starts the session at ``HEAD`` instead."""

    def make(resolve: Callable[[str | None], Awaitable[str]]) -> Callable[..., Awaitable[str]]:
        async def resolved(ref: str | None) -> str:
            try:
                return await resolve(ref)
            except UnknownRefError:
                return await resolve(None)

        return resolved

    _wrap(app, "resolve", make)


def hardlinked_checkouts(app: web.Application) -> None:
    """A checkout reuses the files of the first checkout of its base: hard links to them
    (what ``cp -al`` gives), so an edit in place reaches every session on that base (the
    fake runtime's tools refuse a hard-linked file, so the later sessions' edits fail)."""
    first: dict[str, Path] = {}

    def make(check_out: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def linked(session_id: str, base: str, checkout: Path) -> None:
            await check_out(session_id, base, checkout)  # the session's index, its files
            source = first.setdefault(base, checkout)
            if source == checkout:
                return
            for path in source.rglob("*"):
                target = checkout / path.relative_to(source)
                if path.is_file() and target.is_file():
                    target.unlink()
                    os.link(path, target)

        return linked

    _wrap(app, "check_out", make)


def _with_counts_off(change: Change) -> Change:
    files = tuple(FileChange(f.path, f.status, f.additions + 1, f.deletions) for f in change.files)
    return Change(change.base_ref, change.base, files, change.branch, change.commit, change.tree)


def summary_miscounted(app: web.Application) -> None:
    """The change summary counts one line too many added in every file."""

    def make(commit: Callable[..., Awaitable[Change]]) -> Callable[..., Awaitable[Change]]:
        async def miscounted(*args: Any) -> Change:
            return _with_counts_off(await commit(*args))

        return miscounted

    _wrap(app, "commit", make)


def branch_not_updated(app: web.Application) -> None:
    """Makes the commit and names its branch, but never sets the branch (the ref is gone)."""
    project = _project(app)

    def make(commit: Callable[..., Awaitable[Change]]) -> Callable[..., Awaitable[Change]]:
        async def unbranched(*args: Any) -> Change:
            change = await commit(*args)
            if change.branch:
                await project._git("update-ref", "-d", f"refs/heads/{change.branch}")
            return change

        return unbranched

    _wrap(app, "commit", make)


def worktree_touched(app: web.Application) -> None:
    """Leaves a note of the last session in the project's own working tree."""
    project = _project(app)

    def make(commit: Callable[..., Awaitable[Change]]) -> Callable[..., Awaitable[Change]]:
        async def noted(session_id: str, *args: Any) -> Change:
            change = await commit(session_id, *args)
            (project.settings.directory / ".opencode-last-session").write_text(session_id)
            return change

        return noted

    _wrap(app, "commit", make)


ADDED_LINE = re.compile(r"^\+(?!\+\+ )(.*)$", re.MULTILINE)


def _diff_shouted(request: web.Request, response: web.Response) -> web.Response | None:
    if not answered(request, response, "diff") or not isinstance(response.text, str):
        return None
    shouted = ADDED_LINE.sub(lambda m: "+" + m.group(1).upper(), response.text)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return web.Response(text=shouted, status=response.status, headers=headers)


def _diff_without_base(request: web.Request, response: web.Response) -> web.Response | None:
    if not answered(request, response, "diff"):
        return None
    response.headers.pop("X-Base-Commit", None)
    return response


FAULTS = [
    Fault(
        "project_base_ignored",
        "checks out HEAD whatever base_ref names (an existing ref is still required)",
        catches={"project": ("PROJECT-BASE-CHECKOUT",)},
        evidence={"PROJECT-BASE-CHECKOUT": "hello from v1"},
        patch_app=base_ignored,
    ),
    Fault(
        "project_unknown_ref_head",
        "an unknown base_ref starts the session at HEAD instead of answering 422",
        catches={"project": ("PROJECT-UNKNOWN-REF",)},
        patch_app=unknown_ref_is_head,
    ),
    Fault(
        "project_hardlinked_checkouts",
        "a checkout hard-links the files of the first checkout of its base (shared files)",
        catches={"project": ("PROJECT-ISOLATED",)},
        patch_app=hardlinked_checkouts,
    ),
    Fault(
        "project_diff_shouted",
        "GET /diff upper-cases every added line (the file set and line counts stay right)",
        catches={"project": ("PROJECT-DIFF-EXACT",)},
        evidence={"PROJECT-DIFF-EXACT": "HELLO FROM"},
        middleware=on_responses(_diff_shouted),
    ),
    Fault(
        "project_diff_without_base",
        "GET /diff answers without the X-Base-Commit header the backend applies it to",
        catches={"pact": ("PROJECT-PACT",)},
        evidence={"PROJECT-PACT": "X-Base-Commit"},
        middleware=on_responses(_diff_without_base),
    ),
    Fault(
        "project_summary_miscounted",
        "the change summary counts one added line too many in every file",
        catches={"project": ("PROJECT-SUMMARY",)},
        patch_app=summary_miscounted,
    ),
    Fault(
        "project_branch_not_updated",
        "commits the change and names its branch, but never sets the branch",
        catches={"project": ("PROJECT-BRANCH",)},
        patch_app=branch_not_updated,
    ),
    Fault(
        "project_worktree_touched",
        "writes a note of the last session into the project's own working tree",
        catches={"project": ("PROJECT-WORKTREE-UNTOUCHED",)},
        evidence={"PROJECT-WORKTREE-UNTOUCHED": ".opencode-last-session"},
        patch_app=worktree_touched,
    ),
]

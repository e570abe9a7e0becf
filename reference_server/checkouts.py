"""A session's checkout of the project, as :class:`~reference_server.sessions.SessionStore`
uses it: made before the runtime runs, its change taken after, its diff on demand
(``contract/STREAM_RULES.md#project``; the git side is :mod:`reference_server.project`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from reference_server.project import Change, CommitError, GitError, Project
from reference_server.runtime import RuntimeFailure, SessionSpec

log = logging.getLogger("reference_server.checkouts")

COMMIT_FAILED = "commit_failed"
"""The ``code`` of the fatal error ending a session whose change could not be committed."""
CHECKOUT_FAILED = "checkout_failed"
"""The ``code`` of the fatal error ending a session whose checkout could not be made."""
MESSAGE_PROMPT_CHARS = 2000
"""How much of the prompt a commit message quotes."""


async def check_out(project: Project, spec: SessionSpec) -> None:
    """Fill the session's folder with the files of its base commit."""
    assert spec.base_commit is not None
    try:
        await project.check_out(spec.session_id, spec.base_commit, spec.workspace)
    except GitError as exc:
        raise RuntimeFailure(f"the checkout failed: {exc}", CHECKOUT_FAILED) from None


async def take_change(project: Project, spec: SessionSpec, outcome: str) -> Change | CommitError:
    """Commit the session's checkout to its branch; a refusal is returned (and logged with
    the checkout's path), never raised: the session still ends, saying so."""
    assert spec.base_commit is not None
    message = f"opencode session {spec.session_id} ({outcome})\n\n"
    message += spec.prompt[:MESSAGE_PROMPT_CHARS]
    try:
        return await project.commit(
            spec.session_id, spec.base_ref or "HEAD", spec.base_commit, spec.workspace, message
        )
    except GitError as exc:
        log.error(
            "the change was not committed; the checkout is kept",
            extra={"checkout": str(spec.workspace), "reason": str(exc)},
        )
        return exc if isinstance(exc, CommitError) else CommitError(str(exc))


async def diff_of(
    project: Project, spec: SessionSpec, change: Mapping[str, Any] | None, finished: bool
) -> str:
    """The session's unified diff: its commit's once it finished (empty when it changed
    nothing), else its checkout's now."""
    assert spec.base_commit is not None
    if finished and change and change.get("commit"):
        return await project.diff(spec.base_commit, str(change["commit"]))
    if finished and change is not None and not change.get("files"):
        return ""
    return await project.diff_so_far(spec.session_id, spec.base_commit, spec.workspace)


def commit_failed(exc: GitError) -> str:
    """The error message of a session whose change was not committed."""
    return f"the change was not committed ({exc}); its checkout is kept"

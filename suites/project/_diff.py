"""What a unified diff (git's format) says per file: path, status, lines added and removed.

Hand-written (about 40 lines): ``unidiff`` would do it, but it is one more dependency of
every sidecar's CI for the three facts the summary check compares.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FileDiff:
    path: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0


def _path(header: str) -> str:
    """``a/x`` or ``b/x`` of a ``diff --git`` / ``---`` / ``+++`` line (``/dev/null`` kept)."""
    name = header.split(" ", 1)[1] if " " in header else header
    return name[2:] if name.startswith(("a/", "b/")) else name


def files_of(diff: str) -> dict[str, FileDiff]:
    """path -> :class:`FileDiff` for every file section of ``diff``."""
    files: dict[str, FileDiff] = {}
    current: FileDiff | None = None
    in_hunk = False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            words = line.split(" ")
            current = FileDiff(_path(words[-1]))
            files[current.path] = current
            in_hunk = False
        elif current is None:
            continue
        elif line.startswith("@@"):
            in_hunk = True
        elif not in_hunk:
            if line.startswith("new file mode"):
                current.status = "added"
            elif line.startswith("deleted file mode"):
                current.status = "deleted"
            elif line.startswith("+++ ") and not line.endswith("/dev/null"):
                files.pop(current.path, None)
                current.path = _path(line[4:].split("\t")[0])
                files[current.path] = current
        elif line.startswith("+"):
            current.additions += 1
        elif line.startswith("-"):
            current.deletions += 1
    return files

"""The fixture project (``project_fixture.yaml``): its commits, tag, dirty state and the
edit its scenario makes, as data the generator and the ``project`` suite both derive from."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from contract._files import CONTRACT_DIR, load_data

PROJECT_FIXTURE_PATH = CONTRACT_DIR / "project_fixture.yaml"


@dataclass(frozen=True)
class FixtureCommit:
    message: str
    files: dict[str, str]
    """Files this commit writes (path -> text); earlier commits' other files stay."""
    tag: str | None = None


@dataclass(frozen=True)
class ProjectFixture:
    branch: str
    author: dict[str, str]
    commits: tuple[FixtureCommit, ...]
    dirty: dict[str, str]
    edit: dict[str, Any]

    def files_at(self, index: int) -> dict[str, str]:
        """Every file of commit ``index`` (0 = the first), path -> text."""
        files: dict[str, str] = {}
        for commit in self.commits[: index + 1]:
            files.update(commit.files)
        return files

    @property
    def head_files(self) -> dict[str, str]:
        return self.files_at(len(self.commits) - 1)

    def tag_index(self, tag: str) -> int:
        return next(i for i, c in enumerate(self.commits) if c.tag == tag)

    def edited_files(self, mark: str) -> dict[str, str]:
        """The branch's files after the edit scenario ran with ``mark``."""
        files = dict(self.head_files)
        modify, add = self.edit["modify"], self.edit["add"]
        files[modify["path"]] = files[modify["path"]].replace(
            modify["old"], modify["new"].replace("{mark}", mark), 1
        )
        files[add["path"].replace("{mark}", mark)] = add["content"].replace("{mark}", mark)
        del files[self.edit["delete"]]
        return files


@cache
def project_fixture() -> ProjectFixture:
    raw = load_data(PROJECT_FIXTURE_PATH)
    return ProjectFixture(
        branch=raw["branch"],
        author=dict(raw["author"]),
        commits=tuple(
            FixtureCommit(c["message"], dict(c["files"]), c.get("tag")) for c in raw["commits"]
        ),
        dirty=dict(raw["dirty"]),
        edit=dict(raw["edit"]),
    )

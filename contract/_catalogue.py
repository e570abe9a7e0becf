"""The clause catalogue: every rule with a stable id, level and source."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from contract._files import CLAUSES_PATH, load_data


class Level(StrEnum):
    """RFC 2119 requirement level of a clause."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


CLAUSE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")


@dataclass(frozen=True)
class Clause:
    """One rule of the contract."""

    id: str
    level: Level
    area: str
    title: str
    requirement: str
    source: str
    doc: str | None = None
    retired: str | None = None
    """Why the clause no longer applies; ``None`` while it is active."""

    @property
    def active(self) -> bool:
        return self.retired is None


class UnknownClauseError(KeyError):
    """An id that the catalogue does not list."""


@dataclass(frozen=True)
class Catalogue:
    """All clauses, in catalogue order."""

    version: int
    clauses: tuple[Clause, ...]

    def __iter__(self) -> Iterator[Clause]:
        return iter(self.clauses)

    def __len__(self) -> int:
        return len(self.clauses)

    def __contains__(self, clause_id: object) -> bool:
        return any(c.id == clause_id for c in self.clauses)

    def __getitem__(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise UnknownClauseError(clause_id)

    def active(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.active)

    def matching(self, pattern: str) -> tuple[Clause, ...]:
        """Active clauses whose id matches a glob such as ``SSE-*`` (comma-separated allowed)."""
        globs = [p.strip() for p in pattern.split(",") if p.strip()]
        return tuple(c for c in self.active() if any(fnmatch.fnmatchcase(c.id, g) for g in globs))


class CatalogueError(ValueError):
    """The catalogue file is malformed."""


@cache
def load_catalogue() -> Catalogue:
    """Load and check ``clauses.yaml``: ids well-formed and unique, levels known."""
    raw = load_data(CLAUSES_PATH)
    clauses: list[Clause] = []
    seen: set[str] = set()
    for entry in raw["clauses"]:
        clause_id = entry.get("id", "")
        if not CLAUSE_ID.match(clause_id):
            raise CatalogueError(f"{CLAUSES_PATH}: malformed clause id {clause_id!r}")
        if clause_id in seen:
            raise CatalogueError(f"{CLAUSES_PATH}: duplicate clause id {clause_id}")
        seen.add(clause_id)
        try:
            level = Level(entry["level"])
        except (KeyError, ValueError) as exc:
            raise CatalogueError(f"{CLAUSES_PATH}: {clause_id}: bad level") from exc
        for key in ("area", "title", "requirement", "source"):
            if not entry.get(key):
                raise CatalogueError(f"{CLAUSES_PATH}: {clause_id}: missing {key}")
        clauses.append(
            Clause(
                id=clause_id,
                level=level,
                area=entry["area"],
                title=entry["title"],
                requirement=entry["requirement"],
                source=entry["source"],
                doc=entry.get("doc"),
                retired=entry.get("retired"),
            )
        )
    return Catalogue(version=int(raw["version"]), clauses=tuple(clauses))

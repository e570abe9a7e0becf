"""Conformance profiles (``profiles.yaml``): which profile each clause and operation is in.

A profile is a group of clause areas a sidecar claims to offer; a clause belongs to the
profile listing its ``area``. Loading checks that every area of ``clauses.yaml`` is
listed by exactly one profile, so a new clause (of a new area too) falls into a profile
without a per-clause edit, or stops the load with a message naming the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from contract._catalogue import load_catalogue
from contract._files import CLAUSES_PATH, PROFILES_PATH, load_data
from contract._openapi import operations


class ProfileError(ValueError):
    """``profiles.yaml`` is malformed, or does not cover the catalogue."""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    areas: tuple[str, ...]
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profiles:
    """Every profile, in file order, and the base profile of unlisted operations."""

    profiles: tuple[Profile, ...]
    base: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def __getitem__(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)

    def of_area(self, area: str) -> str:
        for profile in self.profiles:
            if area in profile.areas:
                return profile.name
        raise ProfileError(
            f"{PROFILES_PATH.name}: no profile lists area {area!r}; add it to one profile's areas"
        )

    def of_clause(self, clause_id: str) -> str:
        return self.of_area(load_catalogue()[clause_id].area)

    def of_operation(self, operation_id: str) -> str:
        for profile in self.profiles:
            if operation_id in profile.operations:
                return profile.name
        return self.base

    def parse(self, values: Iterable[str]) -> tuple[str, ...]:
        """Profile names from CLI values (each may be comma-separated), in file order;
        an unknown name is an error listing the known ones."""
        wanted = {v.strip() for value in values for v in value.split(",") if v.strip()}
        unknown = sorted(wanted - set(self.names))
        if unknown:
            raise ProfileError(
                f"unknown profile {', '.join(unknown)} (profiles: {', '.join(self.names)})"
            )
        return tuple(n for n in self.names if n in wanted)


def _profile(entry: dict[str, object]) -> Profile:
    name, title, areas = entry.get("name"), entry.get("title"), entry.get("areas")
    if not isinstance(name, str) or not isinstance(title, str) or not isinstance(areas, list):
        raise ProfileError(f"{PROFILES_PATH.name}: each profile needs name, title and areas")
    listed = entry.get("operations", [])
    assert isinstance(listed, list)
    return Profile(name, title, tuple(map(str, areas)), tuple(map(str, listed)))


@cache
def load_profiles() -> Profiles:
    """Load ``profiles.yaml`` and check it covers every clause and names real operations."""
    raw = load_data(PROFILES_PATH)
    profiles = Profiles(tuple(_profile(e) for e in raw["profiles"]), str(raw["base"]))
    if profiles.base not in profiles.names:
        raise ProfileError(f"{PROFILES_PATH.name}: base {profiles.base!r} is not a profile")
    areas = [a for p in profiles.profiles for a in p.areas]
    twice = sorted({a for a in areas if areas.count(a) > 1})
    if twice:
        raise ProfileError(f"{PROFILES_PATH.name}: areas listed by two profiles: {twice}")
    known = operations()
    for profile in profiles.profiles:
        for op in profile.operations:
            if op not in known:
                raise ProfileError(f"{PROFILES_PATH.name}: {profile.name}: no operation {op!r}")
    for clause in load_catalogue():
        if clause.area not in areas:
            raise ProfileError(
                f"{CLAUSES_PATH.name}: clause {clause.id} has area {clause.area!r}, which no "
                f"profile of {PROFILES_PATH.name} lists; add it to one profile's areas"
            )
    return profiles

"""Conformance profiles as contract data: every clause falls into exactly one profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import contract._profiles as profiles_module
from contract import PROFILES_PATH, ProfileError, load_catalogue, load_profiles
from contract._files import load_data


def test_every_clause_and_operation_has_one_profile() -> None:
    profiles = load_profiles()
    assert {profiles.of_clause(c.id) for c in load_catalogue()} <= set(profiles.names)
    assert profiles.of_clause("WS-UPGRADE") == "websocket"
    assert profiles.of_clause("SSE-HEARTBEAT") == profiles.base
    assert profiles.of_operation("websocketSession") == "websocket"
    assert profiles.of_operation("streamSession") == profiles.base


def test_profile_names_parse_from_repeatable_comma_separated_values() -> None:
    profiles = load_profiles()
    assert profiles.parse(["websocket,core", " soak "]) == ("core", "websocket", "soak")
    with pytest.raises(ProfileError, match=r"unknown profile nope .*profiles: core, websocket"):
        profiles.parse(["core,nope"])


def _load_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: dict[str, object]) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(profiles_module, "PROFILES_PATH", path)
    load_profiles.cache_clear()
    try:
        profiles_module.load_profiles()
    finally:
        load_profiles.cache_clear()


def test_an_area_no_profile_lists_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = dict(load_data(PROFILES_PATH))
    raw["profiles"] = [p for p in raw["profiles"] if p["name"] != "websocket"]
    with pytest.raises(ProfileError, match=r"clause WS-UPGRADE has area 'websocket'.*add it to"):
        _load_with(tmp_path, monkeypatch, raw)


def test_an_area_listed_twice_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = dict(load_data(PROFILES_PATH))
    raw["profiles"] = [*raw["profiles"], {"name": "x", "title": "x", "areas": ["soak"]}]
    with pytest.raises(ProfileError, match="areas listed by two profiles: \\['soak'\\]"):
        _load_with(tmp_path, monkeypatch, raw)

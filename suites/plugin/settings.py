"""The pytest front end of the settings declared with :mod:`contract.settings`.

From a settings class this module derives the pytest options (:func:`add_pytest_options`:
``--sidecar-<name>``, defaulting to the environment variable) and the frozen object from
them (:func:`from_pytest`); the declaration itself, the argparse front end and the redacted
form live in :mod:`contract.settings` (no pytest there: the server declares its ``Config``
with it too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from contract.settings import build, declared, help_text, parse_word

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")


def pytest_flag(field: dataclasses.Field[Any]) -> str:
    return "--" + pytest_dest(field).replace("_", "-")


def pytest_dest(field: dataclasses.Field[Any]) -> str:
    """Prefixed, so that no other plugin's option (pytest-timeout's ``session_timeout``)
    shares the name."""
    return f"sidecar_{field.name}"


def add_pytest_options(group: pytest.OptionGroup, cls: type[DataclassInstance]) -> None:
    """The pytest options of every setting of ``cls``; values default to the environment."""
    for field, s in declared(cls):
        if not s.pytest:
            continue
        if s.switch:
            group.addoption(
                pytest_flag(field),
                dest=pytest_dest(field),
                action="store_const",
                const=s.const,
                default=None,
                help=s.help,
            )
            continue
        group.addoption(
            pytest_flag(field),
            dest=pytest_dest(field),
            type=lambda raw, s=s: parse_word(s, raw),
            action="append" if s.repeat else "store",
            default=None,
            metavar=s.metavar,
            help=help_text(field, s, env=True),
        )


def from_pytest(cls: type[S], config: pytest.Config, env: Mapping[str, str]) -> S:
    """``cls`` from pytest options, falling back to each setting's environment variable."""
    values: dict[str, Any] = {}
    for field, s in declared(cls):
        raw = config.getoption(pytest_dest(field)) if s.pytest else None
        if raw is None and s.env and env.get(s.env):
            raw = s.const if s.switch else parse_word(s, env[s.env])
            raw = [raw] if s.repeat else raw
        values[field.name] = raw
    return build(cls, values)


def plugin_option_of(classes: Sequence[type[DataclassInstance]], cli_flag: str) -> str | None:
    """The pytest option of the setting whose ``opencode-sidecar verify`` flag is
    ``cli_flag`` (``--secret`` -> ``--sidecar-secret``), if it has one."""
    for cls in classes:
        for field, s in declared(cls):
            if s.flag == cli_flag and s.pytest:
                return pytest_flag(field)
    return None

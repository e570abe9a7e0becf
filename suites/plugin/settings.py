"""One declaration per setting, from which every place that takes it is derived.

A setting is a dataclass field whose metadata holds a :class:`Setting` (name, help, CLI flag,
environment variable, parser, default, secret or not). From a settings class this module
derives the ``opencode-sidecar`` flags (:func:`add_cli_arguments`), the pytest options
(:func:`add_pytest_options`: ``--sidecar-<name>``, defaulting to the environment variable),
the frozen object (:func:`from_cli`, :func:`from_pytest`) and its redacted form
(:func:`redacted`). Adding a setting is adding one field.

Written here rather than taken from pydantic-settings: the one thing we need beyond a
dataclass is the two front ends (argparse and pytest's ``Parser``), which no settings
library derives, and the suites must not pull pydantic into every sidecar's CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

REPEAT_HINT = " (repeatable, comma-separated)"
SETTING = "opencode-sidecar-setting"
"""The field-metadata key under which a field's :class:`Setting` lives."""


@dataclass(frozen=True)
class Setting:
    help: str
    flag: str | None = None
    """The ``opencode-sidecar verify`` flag; ``None``: not on the command line."""
    env: str | None = None
    """The environment variable the pytest option defaults to."""
    parse: Callable[[str], Any] = str
    """Turns one command-line word into the value (raise ``ValueError`` with a hint)."""
    secret: bool = False
    """Redacted in reports and logs."""
    switch: bool = False
    """A flag without a value (``store_true``)."""
    repeat: bool = False
    """Repeatable and comma-separated; the value is a tuple."""
    metavar: str | None = None
    short: str | None = None
    """A one-letter alias of ``flag`` (``-v``)."""
    pytest: bool = True
    """Also a pytest option (``--sidecar-<name>``); off for the CLI's own settings."""
    choices: Sequence[str] | None = None
    serve: str | None = None
    """The ``opencode-sidecar serve`` (and ``python -m fakes faulty``) flag that makes a
    reference sidecar run with this value: how a local target is started declaring it."""


def setting(help: str, default: Any = None, **how: Any) -> Any:
    """A dataclass field declared as a setting (see :class:`Setting`)."""
    declared = Setting(help, **how)
    if declared.repeat and default is None:
        default = ()
    return dataclasses.field(default=default, metadata={SETTING: declared})


S = TypeVar("S", bound="DataclassInstance")


def declared(cls: type[DataclassInstance]) -> list[tuple[dataclasses.Field[Any], Setting]]:
    return [(f, f.metadata[SETTING]) for f in dataclasses.fields(cls) if SETTING in f.metadata]


def pytest_flag(field: dataclasses.Field[Any]) -> str:
    return "--" + pytest_dest(field).replace("_", "-")


def pytest_dest(field: dataclasses.Field[Any]) -> str:
    """Prefixed, so that no other plugin's option (pytest-timeout's ``session_timeout``)
    shares the name."""
    return f"sidecar_{field.name}"


def _help(field: dataclasses.Field[Any], s: Setting, env: bool) -> str:
    text = s.help
    if field.default not in (None, (), False, "", dataclasses.MISSING):
        text += f" (default {field.default})"
    if env and s.env:
        text += f" [{s.env}]"
    return text


def parse_word(s: Setting, raw: str) -> Any:
    """One command-line word as the setting's value; a repeatable setting's word is a
    comma-separated list (a tuple of values)."""
    if not s.repeat:
        return s.parse(raw)
    values = tuple(s.parse(part.strip()) for part in raw.split(",") if part.strip())
    unknown = [v for v in values if s.choices is not None and v not in s.choices]
    if unknown:
        raise ValueError(
            f"unknown {', '.join(map(str, unknown))} (choose from {', '.join(s.choices or ())})"
        )
    return values


def _argparse_type(s: Setting) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            return parse_word(s, raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(s.parse, "__name__", "value")
    return convert


def add_cli_arguments(parser: argparse.ArgumentParser, cls: type[DataclassInstance]) -> None:
    """The ``opencode-sidecar`` flags of every setting of ``cls`` that has one."""
    for field, s in declared(cls):
        if s.flag is None:
            continue
        flags = (s.flag, s.short) if s.short else (s.flag,)
        if s.switch:
            parser.add_argument(
                *flags, dest=field.name, action="store_true", default=None, help=s.help
            )
            continue
        parser.add_argument(
            *flags,
            dest=field.name,
            type=_argparse_type(s),
            action="append" if s.repeat else "store",
            default=None,
            metavar=s.metavar or ("{" + ",".join(s.choices) + "}" if s.choices else None),
            choices=None if s.repeat else s.choices,
            help=_help(field, s, env=False)
            + (" (repeatable, comma-separated)" if s.repeat else ""),
        )


def add_pytest_options(group: pytest.OptionGroup, cls: type[DataclassInstance]) -> None:
    """The pytest options of every setting of ``cls``; values default to the environment."""
    for field, s in declared(cls):
        if not s.pytest:
            continue
        if s.switch:
            group.addoption(
                pytest_flag(field),
                dest=pytest_dest(field),
                action="store_true",
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
            help=_help(field, s, env=True),
        )


def _value(field: dataclasses.Field[Any], s: Setting, raw: Any) -> Any:
    if raw is None:
        return field.default
    if s.repeat:
        return tuple(value for word in raw for value in word)
    return raw


def build(cls: type[S], values: Mapping[str, Any], **fixed: Any) -> S:
    """``cls`` from raw front-end values (``None``: not given), ``fixed`` taking precedence."""
    kwargs = {f.name: _value(f, s, values.get(f.name)) for f, s in declared(cls)}
    kwargs.update(fixed)
    return cls(**kwargs)


def from_cli(cls: type[S], args: argparse.Namespace, **fixed: Any) -> S:
    return build(cls, vars(args), **fixed)


def from_pytest(cls: type[S], config: pytest.Config, env: Mapping[str, str] | None = None) -> S:
    """``cls`` from pytest options, falling back to each setting's environment variable."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field, s in declared(cls):
        raw = config.getoption(pytest_dest(field)) if s.pytest else None
        if raw is None and s.env and env.get(s.env):
            raw = True if s.switch else parse_word(s, env[s.env])
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


def serve_arguments(cls: type[DataclassInstance], values: Mapping[str, Any]) -> list[str]:
    """The ``serve`` flags that start a reference sidecar declaring ``values`` (settings of
    ``cls`` by field name; ``None`` values and settings without a serve flag are left out)."""
    args: list[str] = []
    for field, s in declared(cls):
        value = values.get(field.name)
        if s.serve is not None and value is not None:
            args += [s.serve, str(value)]
    return args


def redacted(settings: DataclassInstance) -> dict[str, object]:
    """Every setting's value, secrets as ``***``, paths and tuples as JSON-able values."""
    out: dict[str, object] = {}
    for field, s in declared(type(settings)):
        value = getattr(settings, field.name)
        if s.secret and value:
            value = "***"
        elif isinstance(value, tuple):
            value = list(value)
        elif value is not None and not isinstance(value, bool | int | float | str):
            value = str(value)
        out[field.name] = value
    return out

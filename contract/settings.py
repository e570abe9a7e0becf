"""One declaration per setting, from which every place that takes it is derived.

A setting is a dataclass field whose metadata holds a :class:`Setting` (help, command-line
flag, environment variable, parser, validity, default, secret or not, and for a server
setting the ``verify`` flag under which a target declares its value). From a settings class
this module derives the command-line flags (:func:`add_cli_arguments`), the frozen object
from the environment (:func:`from_env`) or from flags (:func:`from_cli`,
:func:`cli_overrides`), its redacted form (:func:`redacted`), and the words that start a
server with given values (:func:`start_words`). Adding a setting is adding one field.

It lives in ``contract`` (the lowest layer, no pytest) because both sides declare settings
with it: the reference server's ``Config`` and the suites' ``TargetOptions``; the pytest
front end is :mod:`suites.plugin.settings`. Written here rather than taken from
pydantic-settings: the one thing we need beyond a dataclass is the two front ends (argparse
and pytest's ``Parser``), which no settings library derives, and the suites must not pull
pydantic into every sidecar's CI.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SETTING = "opencode-sidecar-setting"
"""The field-metadata key under which a field's :class:`Setting` lives."""


class SettingError(ValueError):
    """A setting's value is invalid; the message names the variable and the fix."""


def _any(_: object) -> bool:
    return True


@dataclass(frozen=True)
class Setting:
    help: str
    flag: str | None = None
    """The command-line flag; ``None``: not on the command line."""
    env: str | None = None
    """The environment variable it is read from (a server) or defaults to (pytest)."""
    parse: Callable[[str], Any] = str
    """Turns one word into the value (raise ``ValueError`` with a hint)."""
    valid: Callable[[Any], bool] = _any
    """Whether a parsed value is acceptable (else an error naming the variable or flag)."""
    secret: bool = False
    """Redacted in reports and logs; a server is given it in its environment, never in a
    command line (anything it runs could read that from ``/proc/PID/cmdline``)."""
    switch: bool = False
    """A flag without a value: it stores ``const``."""
    const: Any = True
    repeat: bool = False
    """Repeatable and comma-separated; the value is a tuple."""
    metavar: str | None = None
    short: str | None = None
    """A one-letter alias of ``flag`` (``-v``)."""
    pytest: bool = True
    """Also a pytest option (``--sidecar-<name>``); off for the CLI's own settings."""
    choices: Sequence[str] | None = None
    verify: str | None = None
    """For a server setting: the ``opencode-sidecar verify`` flag that declares its value to
    the suites (``None``: verify need not be told it)."""


def setting(
    help: str,
    default: Any = None,
    *,
    default_factory: Callable[[], Any] | None = None,
    **how: Any,
) -> Any:
    """A dataclass field declared as a setting (see :class:`Setting`)."""
    declared = Setting(help, **how)
    if declared.repeat and default is None:
        default = ()
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={SETTING: declared})
    return dataclasses.field(default=default, metadata={SETTING: declared})


S = TypeVar("S", bound="DataclassInstance")


def declared(cls: type[DataclassInstance]) -> list[tuple[dataclasses.Field[Any], Setting]]:
    return [(f, f.metadata[SETTING]) for f in dataclasses.fields(cls) if SETTING in f.metadata]


def default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def help_text(field: dataclasses.Field[Any], s: Setting, env: bool) -> str:
    text = s.help
    default = default_of(field)
    if default not in (None, (), False, ""):
        text += f" (default {default})"
    if env and s.env:
        text += f" [{s.env}]"
    return text


def parse_word(s: Setting, raw: str) -> Any:
    """One word as the setting's value; a repeatable setting's word is a comma-separated
    list (a tuple of values). Raises ``ValueError`` with a hint."""
    if not s.repeat:
        value = s.parse(raw)
        if s.choices is not None and value not in s.choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(s.choices)}")
        if not s.valid(value):
            raise ValueError(f"{raw!r} is out of range")
        return value
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


def add_cli_arguments(
    parser: argparse.ArgumentParser, cls: type[DataclassInstance], env_in_help: bool = False
) -> None:
    """The flags of every setting of ``cls`` that has one (``dest``: the field's name;
    ``None`` when not given, so that the environment or the default stands)."""
    for field, s in declared(cls):
        if s.flag is None:
            continue
        flags = (s.flag, s.short) if s.short else (s.flag,)
        if s.switch:
            parser.add_argument(
                *flags,
                dest=field.name,
                action="store_const",
                const=s.const,
                default=None,
                help=s.help + (f" [{s.env}={_word(s.const)}]" if env_in_help and s.env else ""),
            )
            continue
        parser.add_argument(
            *flags,
            dest=field.name,
            type=_argparse_type(s),
            action="append" if s.repeat else "store",
            default=None,
            metavar=s.metavar or ("{" + ",".join(s.choices) + "}" if s.choices else None),
            help=help_text(field, s, env=env_in_help)
            + (" (repeatable, comma-separated)" if s.repeat else ""),
        )


def _word(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def value_of(field: dataclasses.Field[Any], s: Setting, raw: Any) -> Any:
    """A front end's raw value (``None``: not given; a repeatable one: a list of tuples)."""
    if raw is None:
        return default_of(field)
    if s.repeat:
        return tuple(value for word in raw for value in word)
    return raw


def build(cls: type[S], values: Mapping[str, Any], **fixed: Any) -> S:
    """``cls`` from raw front-end values (``None``: not given), ``fixed`` taking precedence."""
    kwargs = {f.name: value_of(f, s, values.get(f.name)) for f, s in declared(cls)}
    kwargs.update(fixed)
    return cls(**kwargs)


def from_cli(cls: type[S], args: argparse.Namespace, **fixed: Any) -> S:
    return build(cls, vars(args), **fixed)


def cli_overrides(cls: type[DataclassInstance], args: argparse.Namespace) -> dict[str, Any]:
    """The values of the flags given (field name -> value), to apply over another source."""
    given = vars(args)
    return {
        f.name: value_of(f, s, given[f.name])
        for f, s in declared(cls)
        if s.flag is not None and given.get(f.name) is not None
    }


def from_env(cls: type[S], env: Mapping[str, str], **fixed: Any) -> S:
    """``cls`` from each setting's environment variable (unset or empty: its default); a bad
    value raises :class:`SettingError` naming the variable, its default and the fix."""
    kwargs: dict[str, Any] = {}
    for field, s in declared(cls):
        raw = env.get(s.env) if s.env else None
        if not raw:
            continue
        try:
            kwargs[field.name] = parse_word(s, raw)
        except ValueError:
            raise SettingError(
                f"{s.env}={raw!r} is not valid (default {default_of(field)!r}); "
                f"fix or unset {s.env}"
            ) from None
    kwargs.update(fixed)
    return cls(**kwargs)


class StartWords(NamedTuple):
    """How to start a server with given settings: flags, and secrets in the environment."""

    args: list[str]
    env: dict[str, str]


def start_words(cls: type[DataclassInstance], values: Mapping[str, Any]) -> StartWords:
    """The flags (and, for secrets, environment variables) that start a server declaring
    ``values`` (settings of ``cls`` by field name; ``None`` values are left out)."""
    args: list[str] = []
    env: dict[str, str] = {}
    known = {f.name for f, _ in declared(cls)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"not settings of {cls.__name__}: {', '.join(sorted(unknown))}")
    for field, s in declared(cls):
        value = values.get(field.name)
        if value is None:
            continue
        if s.secret:
            assert s.env is not None, f"{field.name}: a secret travels in its variable"
            env[s.env] = str(value)
        elif s.switch:
            if value == s.const:
                assert s.flag is not None
                args.append(s.flag)
        else:
            assert s.flag is not None, f"{field.name} has no flag"
            args += [s.flag, str(value)]
    return StartWords(args, env)


def told(
    server: type[DataclassInstance],
    values: Mapping[str, Any],
    verifier: Sequence[type[DataclassInstance]],
) -> dict[str, Any]:
    """What a verifier is told of a server started with ``values``: the fields of the
    ``verifier`` settings classes whose flag each server setting's ``verify`` names (a
    switch declares ``True`` when the server's value is its ``const``)."""
    by_flag = {s.flag: f.name for cls in verifier for f, s in declared(cls) if s.flag}
    out: dict[str, Any] = {}
    for field, s in declared(server):
        value = values.get(field.name)
        if s.verify is None or value is None:
            continue
        out[by_flag[s.verify]] = (value == s.const) if s.switch else value
    return out


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

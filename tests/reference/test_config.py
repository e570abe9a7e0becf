"""A server setting is one declaration: every ``Config`` field carries exactly one, with an
environment variable and a flag, and every serve command (``opencode-sidecar serve`` and
the faulty sidecars' ``python -m fakes faulty``) takes every flag and builds the same value;
what a local sidecar is started with and what verify is then told derive from it too."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from contract.settings import SETTING, Setting, declared, default_of, parse_word
from fakes.__main__ import build_parser as fakes_parser
from fakes.faults.serve import FAULTY_DEFAULTS, faulty_config
from opencode_sidecar.cli import build_parser as cli_parser
from opencode_sidecar.local_target import serve_words, target_fields
from reference_server.config import Config, ConfigError, server_config
from suites.plugin.target import TargetOptions

SETTINGS = declared(Config)


def sample_word(field: dataclasses.Field[Any], s: Setting) -> list[str]:
    """A flag and a valid word for it other than the default, where one exists."""
    assert s.flag is not None
    if s.switch:
        return [s.flag]
    if s.choices:
        others = [c for c in s.choices if c != default_of(field)]
        return [s.flag, others[0]]
    default = default_of(field)
    if isinstance(default, bool | int | float):
        return [s.flag, str(type(default)(3 if default == 2 else 2))]
    if isinstance(default, str) and default:
        return [s.flag, "x" + default]  # keeps what a check asks of its form
    return [s.flag, "/tmp/x" if s.parse is Path else "x"]


def test_every_config_field_is_one_declaration_with_a_variable_and_a_flag() -> None:
    fields = dataclasses.fields(Config)
    assert [f.name for f, _ in SETTINGS] == [f.name for f in fields]
    assert all(isinstance(f.metadata[SETTING], Setting) for f in fields)
    flags = [s.flag for _, s in SETTINGS]
    envs = [s.env for _, s in SETTINGS]
    assert None not in flags and None not in envs
    assert len(set(flags)) == len(flags) and len(set(envs)) == len(envs)


def test_every_setting_verify_is_told_names_a_verify_flag() -> None:
    verify_flags = {s.flag for _, s in declared(TargetOptions)}
    told = {s.verify for _, s in SETTINGS if s.verify is not None}
    assert told <= verify_flags
    assert {"--secret", "--max-sessions", "--bash-timeout"} <= told


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    return parser.parse_args(argv)


@pytest.mark.parametrize(("field", "setting"), SETTINGS, ids=[f.name for f, _ in SETTINGS])
def test_both_servers_take_every_flag_and_build_the_same_value(
    field: dataclasses.Field[Any], setting: Setting
) -> None:
    words = sample_word(field, setting)
    expected = setting.const if setting.switch else parse_word(setting, words[1])
    assert expected != default_of(field)
    serve = server_config(_parse(cli_parser(), ["serve", *words]), {})
    assert getattr(serve, field.name) == expected
    faulty_args = _parse(fakes_parser(), ["faulty", "a_fault", *words])
    if field.name == "runtime":  # the faulty sidecars run the fake runtime: said, not ignored
        with pytest.raises(ConfigError, match="fake runtime"):
            faulty_config(faulty_args, {})
        return
    assert getattr(faulty_config(faulty_args, {}), field.name) == expected


def test_the_faulty_server_keeps_its_own_defaults_and_refuses_another_runtime() -> None:
    faulty = faulty_config(_parse(fakes_parser(), ["faulty", "a_fault"]), {"PORT": "9"})
    assert {name: getattr(faulty, name) for name in FAULTY_DEFAULTS} == FAULTY_DEFAULTS
    with pytest.raises(ConfigError, match="fake runtime"):
        faulty_config(_parse(fakes_parser(), ["faulty", "x", "--runtime", "opencode"]), {})


def test_a_bad_flag_value_is_refused_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(cli_parser(), ["serve", "--port", "70000"])
    assert "--port" in capsys.readouterr().err


def test_environment_then_flags_and_the_secret_redacted() -> None:
    env = {"OPENCODE_SHARED_SECRET": "s3cret", "SESSION_TIMEOUT": "7", "PORT": "1"}
    config = server_config(_parse(cli_parser(), ["serve", "--port", "2"]), env)
    assert (config.session_timeout, config.port, config.shared_secret) == (7.0, 2, "s3cret")
    shown = config.redacted()
    assert shown["shared_secret"] == "***" and set(shown) == {f.name for f, _ in SETTINGS}
    assert shown["workspace_dir"] == "/workspace"
    with pytest.raises(ConfigError, match=r"SESSION_TIMEOUT='-1' is not valid"):
        Config.from_env({"SESSION_TIMEOUT": "-1"})


def test_a_local_sidecar_is_started_with_its_settings_and_verify_told_them() -> None:
    settings = {
        "shared_secret": "s3cret",
        "max_concurrent_sessions": 6,
        "bash_timeout": 1.0,
        "metrics_require_auth": False,
        "storage_dir": Path("/tmp/store"),
    }
    words = serve_words(settings)
    assert words.env == {"OPENCODE_SHARED_SECRET": "s3cret"}  # never on a command line
    assert "s3cret" not in words.args
    started = server_config(_parse(cli_parser(), ["serve", *words.args]), words.env)
    assert {name: getattr(started, name) for name in settings} == settings
    assert target_fields(settings) == {
        "secret": "s3cret",
        "max_sessions": 6,
        "bash_timeout": 1.0,
        "metrics_public": True,
    }
    TargetOptions(url="http://127.0.0.1:1", **target_fields(settings))

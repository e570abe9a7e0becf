"""``python -m fakes faulty NAME --port 0``: serve one faulty sidecar (prints its URL).

It takes every flag ``opencode-sidecar serve`` takes (both derive from the ``Config``
declaration) and builds the fake runtime the same way (:func:`fakes.wiring.build_fake_runtime`);
its own defaults: 127.0.0.1, a free port, log level warn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping, Sequence

from fakes.faults.catalogue import FAULTS, create_faulty_app, describe
from fakes.wiring import build_fake_runtime
from reference_server.config import (
    Config,
    ConfigError,
    add_server_arguments,
    server_config,
)
from reference_server.logs import configure_logging
from reference_server.project import ProjectError, open_project
from reference_server.serve import serve_forever

FAULTY_DEFAULTS = {"host": "127.0.0.1", "port": 0, "log_level": "warn"}
"""Where a faulty sidecar's defaults differ from the environment's (flags still win)."""


def add_faulty_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("faulty", help="serve the reference sidecar with one fault")
    p.add_argument("name", nargs="?", help="the fault (omit with --list)")
    p.add_argument("--list", action="store_true", help="list faults and the clauses they break")
    add_server_arguments(p)
    p.set_defaults(func=run_faulty)


def faulty_config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    """The config a faulty sidecar runs with: the environment, its defaults, the flags."""
    config = server_config(args, env, **FAULTY_DEFAULTS)
    if config.runtime != "fake":
        raise ConfigError(f"RUNTIME={config.runtime!r}: the faulty sidecars run the fake runtime")
    return config


def run_faulty(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        print(describe())
        return 0
    fault = FAULTS.get(args.name)
    if fault is None:
        raise SystemExit(f"unknown fault {args.name!r}; `python -m fakes faulty --list` lists them")
    try:
        config = faulty_config(args, dict(os.environ))
        config.workspace_dir.mkdir(parents=True, exist_ok=True)
        configure_logging(config.log_level)
        runtime = build_fake_runtime(config)
        project = open_project(config, os.environ)
    except (ConfigError, ProjectError) as exc:
        raise SystemExit(f"python -m fakes faulty: {exc}") from None
    asyncio.run(serve_forever(create_faulty_app(fault, config, runtime, project), config))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes")
    add_faulty_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result

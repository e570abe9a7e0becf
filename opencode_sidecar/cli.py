"""``opencode-sidecar``: the one CLI, and the composition root that wires the layers."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtests.cli import add_load_parser
from opencode_sidecar.pact_cli import PactCliError, add_pact_parser
from reference_server.config import Config, ConfigError


class CliError(Exception):
    """A one-line message for the user; exit code 2."""


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the reference sidecar",
        description="Run the reference sidecar. Flags override the environment variables "
        "named in brackets.",
    )
    p.add_argument("--host", help="interface to bind [HOST] (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port, 0 = any free one [PORT] (default 3003)")
    p.add_argument("--workspace", type=Path, help="workspace directory [WORKSPACE_DIR]")
    p.add_argument(
        "--storage-dir",
        type=Path,
        help="keep sessions and events in SQLite there, across restarts [STORAGE_DIR] "
        "(default: in memory)",
    )
    p.add_argument("--runtime", choices=["fake", "opencode"], help="agent runtime [RUNTIME]")
    p.add_argument("--secret", help="shared bearer secret [OPENCODE_SHARED_SECRET]")
    p.add_argument("--heartbeat-interval", type=float, help="seconds [HEARTBEAT_INTERVAL]")
    p.add_argument("--session-timeout", type=float, help="seconds [SESSION_TIMEOUT]")
    p.add_argument("--max-sessions", type=int, help="[MAX_CONCURRENT_SESSIONS]")
    # SETTING(issue 22): server retention flags (the values live in Config)
    p.add_argument(
        "--session-retention",
        type=float,
        help="seconds a finished session stays readable [SESSION_RETENTION] (default 3600)",
    )
    p.add_argument(
        "--max-retained-sessions",
        type=int,
        help="finished sessions kept at most [MAX_RETAINED_SESSIONS] (default 1000)",
    )
    # SETTING(issue 19): the reference's bash timeout (server side)
    p.add_argument(
        "--bash-timeout", type=float, help="seconds a bash command may run [BASH_TIMEOUT]"
    )
    p.add_argument("--log-level", choices=["debug", "info", "warn", "error"], help="[LOG_LEVEL]")
    p.add_argument(
        "--metrics-public",
        dest="metrics_require_auth",
        action="store_false",
        default=None,
        help="serve /metrics without the bearer token [METRICS_REQUIRE_AUTH=false]",
    )
    p.set_defaults(func=_serve)


def server_config(args: argparse.Namespace, env: dict[str, str]) -> Config:
    """Config from the environment, then CLI flags (once, at the edge)."""
    config = Config.from_env(env).with_overrides(
        host=args.host,
        port=args.port,
        workspace_dir=args.workspace,
        storage_dir=args.storage_dir,
        runtime=args.runtime,
        shared_secret=args.secret,
        heartbeat_interval=args.heartbeat_interval,
        session_timeout=args.session_timeout,
        max_concurrent_sessions=args.max_sessions,
        session_retention=args.session_retention,  # SETTING(issue 22)
        max_retained_sessions=args.max_retained_sessions,  # SETTING(issue 22)
        bash_timeout=args.bash_timeout,  # SETTING(issue 19)
        log_level=args.log_level,
        metrics_require_auth=args.metrics_require_auth,
    )
    config.check()
    return config


def _serve(args: argparse.Namespace) -> int:
    from opencode_sidecar.runtimes import build_runtime
    from reference_server.app import create_app
    from reference_server.logs import configure_logging
    from reference_server.serve import serve_forever
    from reference_server.storage import Storage, StorageError

    config = server_config(args, dict(os.environ))
    config.workspace_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(config.log_level)
    try:
        storage = Storage.open(config.storage_dir) if config.storage_dir is not None else None
    except StorageError as exc:
        raise CliError(str(exc)) from None
    app = create_app(config, build_runtime(config), storage=storage)
    asyncio.run(serve_forever(app, config))
    return 0


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from opencode_sidecar.verify import VerifyOptions
    from suites.plugin.settings import add_cli_arguments
    from suites.plugin.target import RunOptions, TargetOptions

    p = sub.add_parser(
        "verify",
        help="verify a sidecar against the contract (default: the embedded reference)",
        description="Run the verification suites against a sidecar and print a clause-by-"
        "clause verdict. Without --target, start the reference sidecar and the fake model "
        "server on free ports and verify them. Exit code: 0 pass, 1 a MUST clause (or with "
        "--strict a SHOULD clause) failed, 2 could not verify.",
    )
    for settings in (TargetOptions, RunOptions, VerifyOptions):
        add_cli_arguments(p, settings)
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from opencode_sidecar.verify import Verification, VerifyOptions, main_verify
    from suites.plugin.settings import from_cli
    from suites.plugin.target import RunOptions, TargetOptions

    target = from_cli(TargetOptions, args)
    asked = Verification(target, from_cli(RunOptions, args), from_cli(VerifyOptions, args))
    return main_verify(asked)


def _add_install(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from opencode_sidecar.install import OPENCODE_VERSION

    p = sub.add_parser(
        "install-opencode",
        help="install the real OpenCode (npm package opencode-ai) for --runtime opencode",
        description=f"npm install opencode-ai@{OPENCODE_VERSION} into a project-local folder, "
        "where `--runtime opencode` finds it.",
    )
    p.add_argument(
        "--prefix", type=Path, default=Path(".opencode"), help="npm prefix (default .opencode)"
    )
    p.add_argument("--version", default=OPENCODE_VERSION, help="opencode-ai version")
    p.set_defaults(func=_install)


def _install(args: argparse.Namespace) -> int:
    from opencode_sidecar.install import InstallError, install_opencode

    try:
        binary = install_opencode(args.prefix, args.version)
    except InstallError as exc:
        raise CliError(str(exc)) from None
    print(f"opencode {args.version} installed: {binary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opencode-sidecar",
        description="Verify an opencode-server sidecar against its contract, serve the "
        "reference sidecar, and size its pod from measured load.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_verify(sub)
    add_load_parser(sub)
    add_pact_parser(sub)
    _add_install(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (CliError, ConfigError, PactCliError) as exc:
        print(f"opencode-sidecar: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"opencode-sidecar: {where}{exc.strerror or exc} (choose a writable path or a free "
            "port)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())

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
from suites import SUITES


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
    p = sub.add_parser(
        "verify",
        help="verify a sidecar against the contract (default: the embedded reference)",
        description="Run the verification suites against a sidecar and print a clause-by-"
        "clause verdict. Without --target, start the reference sidecar and the fake model "
        "server on free ports and verify them. Exit code: 0 pass, 1 a MUST clause (or with "
        "--strict a SHOULD clause) failed, 2 could not verify.",
    )
    p.add_argument("--target", metavar="URL", help="base URL of the sidecar to verify")
    p.add_argument("--secret", help="its shared bearer secret, if it has one")
    p.add_argument("--strict", action="store_true", help="SHOULD clauses fail the run too")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    p.add_argument(
        "--report", type=Path, metavar="FILE", help="write a report: .md, .html, or .json"
    )
    p.add_argument("--only", metavar="CLAUSE-GLOB", help="only clauses matching, e.g. 'SSE-*'")
    p.add_argument(
        "--suite",
        action="append",
        choices=list(SUITES),
        dest="suites",
        help="suites to run (repeatable; default: all)",
    )
    p.add_argument(
        "--model-endpoint", metavar="URL", help="a running fake model server (default: start one)"
    )
    p.add_argument(
        "--heartbeat-interval",
        type=float,
        default=30.0,
        help="the target's HEARTBEAT_INTERVAL in seconds (default 30)",
    )
    p.add_argument(
        "--session-timeout",
        type=float,
        help="the target's SESSION_TIMEOUT, to check it (default: skip that clause)",
    )
    p.add_argument("--max-sessions", type=int, help="the target's MAX_CONCURRENT_SESSIONS")
    # SETTING(issue 19): the target's bash timeout, to check AGENT-BASH-TIMEOUT
    p.add_argument(
        "--bash-timeout",
        type=float,
        help="the target's bash timeout (BASH_TIMEOUT) in seconds, at most 10, to check "
        "AGENT-BASH-TIMEOUT (default: skip that clause)",
    )
    p.add_argument(
        "--metrics-public",
        action="store_true",
        help="the target serves /metrics without the token (its METRICS_REQUIRE_AUTH=false)",
    )
    p.add_argument(
        "--workspace", type=Path, help="the target's WORKSPACE_DIR, when readable from here"
    )
    p.add_argument(
        "--restart-cmd",
        metavar="CMD",
        help="shell command that kills the target with SIGKILL and starts it again on the "
        "same URL (durability suite; default: skip it)",
    )
    p.add_argument(
        "--runtime",
        choices=["fake", "opencode"],
        default="fake",
        help="runtime of the embedded reference (without --target)",
    )
    p.add_argument(
        "--max-examples",
        type=int,
        dest="fuzz_max_examples",
        help="fuzz suite: generated examples per operation (default 100)",
    )
    p.add_argument(
        "--pid",
        type=int,
        help="the target's PID, when it runs on this machine (soak: its open fds and RSS)",
    )
    p.add_argument(
        "--soak",
        type=_duration,
        metavar="DURATION",
        dest="soak_duration",
        help="soak suite: storm for this long, e.g. 60, 90s, 10m (default: a few seconds)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output too")
    p.set_defaults(func=_verify)


def _duration(raw: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m`` or ``1h``."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    text = raw.strip().lower()
    scale = units.get(text[-1:], 1.0)
    try:
        value = float(text[:-1] if text[-1:] in units else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {raw!r} (try 60, 90s or 10m)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {raw!r}")
    return value


def _verify(args: argparse.Namespace) -> int:
    from opencode_sidecar.verify import VerifyOptions, main_verify
    from suites.target import TargetOptions

    target = None
    if args.target:
        if not args.target.startswith(("http://", "https://")):
            raise CliError(f"--target {args.target!r} is not a URL (try http://127.0.0.1:3003)")
        target = TargetOptions(
            url=args.target.rstrip("/"),
            secret=args.secret,
            model_endpoint=args.model_endpoint,
            heartbeat_interval=args.heartbeat_interval,
            session_timeout=args.session_timeout,
            max_sessions=args.max_sessions,
            bash_timeout=args.bash_timeout,  # SETTING(issue 19)
            workspace=args.workspace,
            strict=args.strict,
            metrics_public=args.metrics_public,
            restart_cmd=args.restart_cmd,
            pid=args.pid,
        )
    options = VerifyOptions(
        target=target,
        junit=args.junit,
        report=args.report,
        only=args.only,
        suites=tuple(args.suites or SUITES),
        runtime=args.runtime,
        verbose=args.verbose,
        strict=args.strict,
        fuzz_max_examples=args.fuzz_max_examples,
        soak_duration=args.soak_duration,
    )
    return main_verify(options)


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

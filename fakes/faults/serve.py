"""``python -m fakes faulty NAME --port 0``: serve one faulty sidecar (prints its URL)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from fakes.faults.catalogue import FAULTS, create_faulty_app, describe
from fakes.runtime import FakeOpenCodeRuntime
from reference_server.config import Config
from reference_server.logs import configure_logging
from reference_server.project import open_project
from reference_server.sandbox.startup import sandbox_for
from reference_server.serve import serve_forever


def add_faulty_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("faulty", help="serve the reference sidecar with one fault")
    p.add_argument("name", nargs="?", help="the fault (omit with --list)")
    p.add_argument("--list", action="store_true", help="list faults and the clauses they break")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--workspace", type=Path, default=None)
    p.add_argument("--storage-dir", type=Path, default=None, help="[STORAGE_DIR]")
    p.add_argument("--secret", default=None)
    p.add_argument("--heartbeat-interval", type=float, default=None)
    p.add_argument("--session-timeout", type=float, default=None)
    p.add_argument("--max-sessions", type=int, default=None)
    p.add_argument("--session-retention", type=float, default=None, help="[SESSION_RETENTION]")
    p.add_argument(
        "--max-retained-sessions", type=int, default=None, help="[MAX_RETAINED_SESSIONS]"
    )
    p.add_argument("--bash-timeout", type=float, default=None, help="[BASH_TIMEOUT]")
    p.add_argument("--project-dir", type=Path, default=None, help="[PROJECT_DIR]")
    p.set_defaults(func=run_faulty)


def run_faulty(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        print(describe())
        return 0
    fault = FAULTS.get(args.name)
    if fault is None:
        raise SystemExit(f"unknown fault {args.name!r}; `python -m fakes faulty --list` lists them")
    config = Config.from_env(dict(os.environ)).with_overrides(
        host=args.host,
        port=args.port,
        workspace_dir=args.workspace,
        storage_dir=args.storage_dir,
        shared_secret=args.secret,
        heartbeat_interval=args.heartbeat_interval,
        session_timeout=args.session_timeout,
        max_concurrent_sessions=args.max_sessions,
        session_retention=args.session_retention,
        max_retained_sessions=args.max_retained_sessions,
        bash_timeout=args.bash_timeout,
        project_dir=args.project_dir,
        log_level="warn",
    )
    config.workspace_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(config.log_level)
    runtime = FakeOpenCodeRuntime(
        read_timeout=config.model_read_timeout,
        bash_timeout=config.bash_timeout,
        bash_output_cap=config.bash_output_cap,
        sandbox=sandbox_for(config),
    )
    project = open_project(config)
    asyncio.run(serve_forever(create_faulty_app(fault, config, runtime, project), config))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes")
    add_faulty_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result

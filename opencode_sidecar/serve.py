"""``opencode-sidecar serve``: the reference sidecar's command, on its own.

``python -m opencode_sidecar.serve`` is the serve image's entry point: it needs the
sidecar's own dependencies only (``opencode_sidecar.cli`` also builds ``verify``, ``load``
and ``pact``, which import pytest, Locust and Pact).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from reference_server.config import Config, ConfigError

DESCRIPTION = (
    "Run the reference sidecar. Flags override the environment variables named in brackets."
)


class ServeError(Exception):
    """A one-line message for the user; exit code 2."""


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument(
        "--project-dir",
        type=Path,
        help="a git repository each session gets its own checkout of [PROJECT_DIR]",
    )
    p.add_argument(
        "--project-branch",
        help="branch of a session's change [PROJECT_BRANCH] (opencode/{session_id})",
    )
    p.add_argument("--project-author", help="'Name <email>' of its commits [PROJECT_AUTHOR]")
    p.add_argument("--log-level", choices=["debug", "info", "warn", "error"], help="[LOG_LEVEL]")
    p.add_argument(
        "--metrics-public",
        dest="metrics_require_auth",
        action="store_false",
        default=None,
        help="serve /metrics without the bearer token [METRICS_REQUIRE_AUTH=false]",
    )


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
        project_dir=args.project_dir,
        project_branch=args.project_branch,
        project_author=args.project_author,
    )
    config.check()
    return config


def serve(args: argparse.Namespace) -> int:
    """Run the reference sidecar until SIGTERM/SIGINT."""
    from opencode_sidecar.runtimes import build_runtime
    from reference_server.app import create_app
    from reference_server.logs import configure_logging
    from reference_server.project import ProjectError, open_project
    from reference_server.serve import serve_forever
    from reference_server.storage import Storage, StorageError

    config = server_config(args, dict(os.environ))
    config.workspace_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(config.log_level)
    try:
        project = open_project(config)
    except ProjectError as exc:
        raise ServeError(str(exc)) from None
    try:
        storage = Storage.open(config.storage_dir) if config.storage_dir is not None else None
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    app = create_app(config, build_runtime(config), storage=storage, project=project)
    asyncio.run(serve_forever(app, config))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opencode-sidecar serve", description=DESCRIPTION)
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except (ServeError, ConfigError) as exc:
        print(f"opencode-sidecar: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

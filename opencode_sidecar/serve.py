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

from reference_server.config import ConfigError, add_server_arguments, server_config

DESCRIPTION = (
    "Run the reference sidecar. Flags override the environment variables named in brackets."
)


class ServeError(Exception):
    """A one-line message for the user; exit code 2."""


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`Config` setting (derived from its declaration)."""
    add_server_arguments(p)


def serve(args: argparse.Namespace) -> int:
    """Run the reference sidecar until SIGTERM/SIGINT."""
    from opencode_sidecar.runtimes import build_runtime
    from reference_server.app import create_app
    from reference_server.logs import configure_logging
    from reference_server.project import ProjectError, open_project
    from reference_server.serve import serve_forever
    from reference_server.storage import Storage, StorageError
    from reference_server.tracing import install_tracing

    environ = dict(os.environ)
    config = server_config(args, environ)
    config.workspace_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(config.log_level)
    tracing = install_tracing(environ)
    try:
        project = open_project(config, environ)
    except ProjectError as exc:
        raise ServeError(str(exc)) from None
    try:
        storage = Storage.open(config.storage_dir) if config.storage_dir is not None else None
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    app = create_app(config, build_runtime(config, environ), storage=storage, project=project)
    try:
        asyncio.run(serve_forever(app, config))
    finally:
        tracing.shutdown()  # exports the spans still queued
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

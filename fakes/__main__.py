"""``python -m fakes``: ``model-server``, ``list``, ``faulty``, ``forkserver``, ``project``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fakes import forkserver
from fakes.faults.serve import add_faulty_parser
from fakes.model_server import ModelServer
from fakes.scenarios import SCENARIO_DIR, ScenarioError, load_scenarios


async def _serve_model(host: str, port: int, directory: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ModelServer(load_scenarios(directory), port=port, host=host) as server:
        print(f"fake model server listening on {server.url}", flush=True)
        await stop.wait()


def _model_server(args: argparse.Namespace) -> int:
    asyncio.run(_serve_model(args.host, args.port, args.scenarios))
    return 0


def _list(args: argparse.Namespace) -> int:
    print(f"{'scenario':20} {'needs':40} description")
    for scenario in load_scenarios(args.scenarios).values():
        print(f"{scenario.id:20} {scenario.needs():40} {scenario.description}")
    return 0


def _project(args: argparse.Namespace) -> int:
    from fakes.project import FixtureError, main

    try:
        return main(args.directory)
    except FixtureError as exc:
        print(f"python -m fakes project: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fakes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("model-server", help="serve the fake OpenAI-compatible model")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--scenarios", type=Path, default=SCENARIO_DIR)
    serve.set_defaults(func=_model_server)
    listing = sub.add_parser("list", help="list the scenarios")
    listing.add_argument("--scenarios", type=Path, default=SCENARIO_DIR)
    listing.set_defaults(func=_list)
    add_faulty_parser(sub)
    project = sub.add_parser(
        "project", help="make the fixture project (contract/project_fixture.yaml) in DIR"
    )
    project.add_argument("directory", type=Path, metavar="DIR")
    project.set_defaults(func=_project)
    fork = sub.add_parser(
        "forkserver", help="start `python -m fakes ARGS` servers from one warm process (stdin)"
    )
    fork.set_defaults(func=lambda _: forkserver.serve(main))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ScenarioError as exc:
        print(f"python -m fakes: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())

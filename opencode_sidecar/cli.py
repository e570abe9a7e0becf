"""``opencode-sidecar``: the one CLI, and the composition root that wires the layers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtests.cli import add_load_parser
from opencode_sidecar.pact_cli import PactCliError, add_pact_parser
from opencode_sidecar.serve import DESCRIPTION, ServeError, add_serve_arguments, serve
from reference_server.config import ConfigError


class CliError(Exception):
    """A one-line message for the user; exit code 2."""


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the reference sidecar", description=DESCRIPTION)
    add_serve_arguments(p)
    p.set_defaults(func=serve)


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from contract.settings import add_cli_arguments
    from opencode_sidecar.verify import VerifyOptions
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
    from contract.settings import from_cli
    from opencode_sidecar.verify import Verification, VerifyOptions, main_verify
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
    except (CliError, ConfigError, PactCliError, ServeError) as exc:
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

"""``opencode-sidecar pact generate | verify``: the backend's consumer pacts."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path


class PactCliError(Exception):
    """A one-line message for the user; exit code 2."""


def add_pact_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from suites.pact.files import PACT_DIR

    p = sub.add_parser("pact", help="the backend's consumer pacts: generate, verify a sidecar")
    actions = p.add_subparsers(dest="pact_command", required=True, metavar="ACTION")
    gen = actions.add_parser(
        "generate",
        help="run the consumer side and write the pact file",
        description="Run the backend's calls against Pact's mock server and its event reader "
        "against every message, then write the pact (Pact V4) into --out.",
    )
    gen.add_argument("--out", type=Path, default=PACT_DIR, help=f"folder (default {PACT_DIR})")
    gen.set_defaults(func=_generate)
    ver = actions.add_parser(
        "verify",
        help="verify a sidecar against the pacts (provider verification)",
        description="Replay every interaction of the pacts against --target, putting it in "
        "each provider state through its public API, and reading its real SSE stream for "
        "the messages. Exit code: 0 all verified, 1 a mismatch, 2 could not verify.",
    )
    ver.add_argument("--target", required=True, metavar="URL", help="the sidecar's base URL")
    ver.add_argument("--secret", help="its shared bearer secret, if it has one")
    ver.add_argument("--pact-dir", type=Path, default=PACT_DIR, help="folder of pact files")
    ver.add_argument("--broker-url", help="fetch the pacts from this Pact Broker instead")
    ver.add_argument(
        "--model-endpoint", metavar="URL", help="a fake model server the target can reach"
    )
    ver.set_defaults(func=_verify)


def _generate(args: argparse.Namespace) -> int:
    from suites.pact.consumer import generate

    path = generate(args.out)
    print(f"pact written: {path}")
    return 0


@contextlib.contextmanager
def _model_endpoint(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from suites.harness import fake_model_server

    with fake_model_server() as server:
        yield server.url


def _verify(args: argparse.Namespace) -> int:
    import httpx

    from suites.pact.provider import PactTarget, verify_provider

    if not args.target.startswith(("http://", "https://")):
        raise PactCliError(f"--target {args.target!r} is not a URL (try http://127.0.0.1:3003)")
    if args.broker_url is None and not any(args.pact_dir.glob("*.json")):
        raise PactCliError(
            f"no pact files in {args.pact_dir} (run `opencode-sidecar pact generate`)"
        )
    try:
        httpx.get(args.target.rstrip("/") + "/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise PactCliError(f"cannot reach {args.target}: {exc}") from None
    with _model_endpoint(args.model_endpoint) as model:
        target = PactTarget(
            args.target.rstrip("/"), model, args.secret, args.pact_dir, args.broker_url
        )
        result = verify_provider(target)
    for interaction in result.interactions:
        mark = "PASS" if interaction.passed else "FAIL"
        print(f"{mark}  {interaction.description}")
        for line in interaction.mismatches:
            print(f"        {line}")
    for error in dict.fromkeys(result.state_errors):
        print(f"state  {error}")
    verified = sum(i.passed for i in result.interactions)
    print(f"Verdict: {'PASS' if result.passed else 'FAIL'} {verified}/{len(result.interactions)}")
    return 0 if result.passed else 1

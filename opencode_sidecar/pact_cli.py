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
        "the messages. Without --target, start the reference sidecar (like `verify`). "
        "Exit code: 0 all verified, 1 a mismatch, 2 could not verify.",
    )
    ver.add_argument(
        "--target",
        metavar="URL",
        help="the sidecar's base URL (default: start the reference sidecar and verify it)",
    )
    ver.add_argument(
        "--interaction",
        metavar="DESCRIPTION",
        help="verify only this interaction or message (as a failure's reproduce line names it)",
    )
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
    from suites.clientkit.harness import fake_model_server

    with fake_model_server() as server:
        yield server.url


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    """(URL, secret) of --target, or of the embedded reference started for the run."""
    import httpx

    if args.target is None:
        import tempfile

        from opencode_sidecar.verify import VerifyError, embedded_reference

        with tempfile.TemporaryDirectory(prefix="ocs-pact-") as workdir:
            try:
                with embedded_reference("fake", Path(workdir)) as reference:
                    yield reference.url, reference.secret
            except VerifyError as exc:
                raise PactCliError(str(exc)) from None
        return
    if not args.target.startswith(("http://", "https://")):
        raise PactCliError(f"--target {args.target!r} is not a URL (try http://127.0.0.1:3003)")
    try:
        httpx.get(args.target.rstrip("/") + "/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise PactCliError(f"cannot reach {args.target}: {exc}") from None
    yield args.target.rstrip("/"), args.secret


def _verify(args: argparse.Namespace) -> int:
    from suites.pact.provider import PactTarget, verify_provider

    if args.broker_url is None and not any(args.pact_dir.glob("*.json")):
        raise PactCliError(
            f"no pact files in {args.pact_dir} (run `opencode-sidecar pact generate`)"
        )
    with _target(args) as (url, secret), _model_endpoint(args.model_endpoint) as model:
        if args.target is None:
            print(f"Verifying the reference sidecar at {url}")
        target = PactTarget(url, model, secret, args.pact_dir, args.broker_url)
        result = verify_provider(target, args.interaction)
    if args.interaction and not result.interactions:
        raise PactCliError(f"no interaction or message {args.interaction!r} in the pacts")
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

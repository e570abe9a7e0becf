"""Provider verification of any sidecar URL against the backend's pacts.

``verify_provider`` runs Pact's verifier (the Rust core shipped in the pact-python wheel:
offline, no broker needed) against the target, with the provider states and messages
of :mod:`suites.pact.states`, and returns one :class:`InteractionResult` per interaction
with its mismatches (path, expected, actual).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from suites.clientkit.client import SidecarClient
from suites.pact.consumer import examples
from suites.pact.files import PACT_DIR
from suites.pact.states import ProviderStates, StateServer


@dataclass(frozen=True)
class PactTarget:
    url: str
    model_endpoint: str
    secret: str | None = None
    pact_dir: Path = PACT_DIR
    broker_url: str | None = None
    settle_timeout: float = 30.0


@dataclass(frozen=True)
class Mismatch:
    """One difference Pact found: where, what the pact expected, what the provider did."""

    path: str
    text: str
    expected: str | None = None
    actual: str | None = None

    def line(self) -> str:
        detail = f" (expected {self.expected}, actual {self.actual})" if self.expected else ""
        return f"{self.path}: {self.text}{detail}"


@dataclass
class InteractionResult:
    description: str
    passed: bool
    details: list[Mismatch] = field(default_factory=list)

    @property
    def mismatches(self) -> list[str]:
        """One line per mismatch."""
        return [m.line() for m in self.details]


@dataclass
class PactResult:
    interactions: list[InteractionResult]
    state_errors: list[str]

    @property
    def passed(self) -> bool:
        return bool(self.interactions) and all(i.passed for i in self.interactions)


def verify_provider(target: PactTarget, description: str | None = None) -> PactResult:
    """Verify ``target`` against every pact (or the one interaction ``description``)."""
    from pact import Verifier

    host = urlsplit(target.url).hostname or "127.0.0.1"
    client = SidecarClient(target.url, target.secret)
    states = ProviderStates(client, target.model_endpoint, target.settle_timeout)
    verifier = Verifier(examples()["provider"], host=host).add_transport(url=target.url)
    if target.secret:
        verifier.add_custom_header("Authorization", f"Bearer {target.secret}")
    if target.broker_url:
        verifier.broker_source(target.broker_url)
    else:
        verifier.add_source(target.pact_dir)
    if description is not None:
        verifier.filter(f"^{re.escape(description)}$")  # a regex to Pact: this one only
    verifier.message_handler(lambda name, metadata: states.message(name))
    verifier.set_coloured_output(enabled=False)
    # a state change waits for its session to settle (up to settle_timeout); Pact's own
    # default of 5 s would fail a sidecar that starts an agent process per session
    verifier.set_request_timeout(int((target.settle_timeout + 10) * 1000))
    with StateServer(states) as server, client:
        verifier.state_handler(server.url, teardown=True, body=True)
        try:
            verifier.verify()
        except RuntimeError:
            pass  # the results say which interactions failed and why
        finally:
            states.teardown()
    return PactResult(_interactions(verifier.results), server.errors)


def _interactions(results: dict[str, Any]) -> list[InteractionResult]:
    found: list[InteractionResult] = []
    for item in results.get("interactionResults", []) or []:
        result = InteractionResult(str(item.get("description")), item.get("result") == "OK")
        if not result.passed:
            result.details = _mismatches(item.get("mismatch") or {})
        found.append(result)
    return found


def _mismatches(mismatch: dict[str, Any]) -> list[Mismatch]:
    """Each mismatch Pact reports: where, what was expected, what the provider did."""
    found: list[Mismatch] = []
    for m in mismatch.get("mismatches", []) or []:
        where = str(m.get("path") or m.get("key") or m.get("type", ""))
        text = str(m.get("mismatch") or m.get("description") or "")
        if "expected" in m:
            found.append(Mismatch(where, text, str(m["expected"]), str(m.get("actual"))))
        else:
            found.append(Mismatch(where, text))
    if not found:
        found.append(Mismatch("", str(mismatch.get("message") or mismatch.get("type") or "failed")))
    return found

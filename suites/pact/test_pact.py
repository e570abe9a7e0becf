"""Provider verification: the target against the backend's committed consumer pacts."""

from __future__ import annotations

import pytest

from suites.pact.consumer import HTTP, message_expectations
from suites.pact.provider import PactResult, PactTarget, verify_provider
from suites.plugin.target import TargetOptions


@pytest.fixture(scope="session")
def pact_result(target: TargetOptions, model_endpoint: str) -> PactResult:
    return verify_provider(PactTarget(target.url, model_endpoint, target.secret))


def _check(result: PactResult, description: str) -> None:
    found = [i for i in result.interactions if i.description == description]
    state_errors = "; ".join(dict.fromkeys(result.state_errors))
    assert found, f"{description!r} was not verified. {state_errors}".strip()
    [interaction] = found
    detail = "\n  ".join(interaction.mismatches)
    assert interaction.passed, f"pact {description!r} failed:\n  {detail}"


@pytest.mark.clause("PACT-HTTP")
@pytest.mark.parametrize("description", [e.description for e in HTTP])
def test_backend_http_interaction(pact_result: PactResult, description: str) -> None:
    _check(pact_result, description)


@pytest.mark.clause("PACT-MESSAGES")
@pytest.mark.parametrize("description", [m.description for m in message_expectations()])
def test_backend_stream_message(pact_result: PactResult, description: str) -> None:
    _check(pact_result, description)

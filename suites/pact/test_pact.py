"""Provider verification: the target against the backend's committed consumer pacts."""

from __future__ import annotations

import shlex

import pytest

from suites.checks.verdict import ClauseViolation, capability_absent
from suites.clientkit.client import SECRET_ENV
from suites.pact.consumer import HTTP, in_profile, message_expectations
from suites.pact.provider import PactResult, PactTarget, verify_provider
from suites.plugin.target import TargetOptions


@pytest.fixture(scope="session")
def pact_result(target: TargetOptions, model_endpoint: str) -> PactResult:
    return verify_provider(PactTarget(target.url, model_endpoint, target.secret))


def reproduce(target: TargetOptions, description: str) -> str:
    """The command that replays one interaction against the target."""
    secret = f' --secret "${SECRET_ENV}"' if target.secret else ""
    return (
        f"opencode-sidecar pact verify --target {shlex.quote(target.url)}{secret} "
        f"--interaction {shlex.quote(description)}"
    )


def _check(result: PactResult, description: str, target: TargetOptions) -> None:
    """A plain ClauseViolation (path, expected, actual, reproduce), never a bare assert."""
    found = [i for i in result.interactions if i.description == description]
    if not found:
        state_errors = "; ".join(dict.fromkeys(result.state_errors)) or "no result"
        raise ClauseViolation(
            f"pact {description!r} was not verified",
            "a verification result for the interaction",
            state_errors,
            reproduce(target, description),
        )
    [interaction] = found
    if interaction.passed:
        return
    details = interaction.details
    raise ClauseViolation(
        f"pact {description!r} failed at {', '.join(m.path or '?' for m in details)}",
        "; ".join(f"{m.path}: {m.expected}" if m.expected else m.path for m in details),
        "; ".join(f"{m.path}: {m.actual} ({m.text})" if m.expected else m.line() for m in details),
        reproduce(target, description),
    )


@pytest.mark.clause("PACT-HTTP")
@pytest.mark.parametrize("description", in_profile("core", HTTP))
def test_backend_http_interaction(
    pact_result: PactResult, description: str, target: TargetOptions
) -> None:
    _check(pact_result, description, target)


@pytest.mark.clause("PACT-MESSAGES")
@pytest.mark.parametrize("description", in_profile("core", message_expectations()))
def test_backend_stream_message(
    pact_result: PactResult, description: str, target: TargetOptions
) -> None:
    _check(pact_result, description, target)


@pytest.mark.clause("PROJECT-PACT")
@pytest.mark.parametrize(
    "description", in_profile("project", HTTP) + in_profile("project", message_expectations())
)
def test_backend_project_expectation(
    pact_result: PactResult, description: str, target: TargetOptions
) -> None:
    if not target.has_project_fixture:
        capability_absent(
            "the target was not declared started on the fixture project", flag="--project-fixture"
        )
    _check(pact_result, description, target)

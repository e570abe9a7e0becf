"""Schemathesis over contract/openapi.yaml against the target: every operation, generated
valid and invalid requests, each response checked against the contract."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

import contract
from suites.checks.verdict import ClauseViolation
from suites.clientkit.client import SidecarClient, to_curl
from suites.fuzz.mapping import FUZZ_CLAUSES, clauses_of
from suites.fuzz.st_config import fuzz_config
from suites.plugin.target import TargetOptions

# the per-operation status lists derived from the contract, as the shipped
# contract/schemathesis.toml tells Schemathesis's own CLI (suites/fuzz/st_config.py)
schema = schemathesis.openapi.from_path(str(contract.OPENAPI_PATH), config=fuzz_config())
schema.config.update(request_timeout=10)

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def _point_at_fake_model(case: Any, model_endpoint: str) -> None:
    """A valid session must talk to the fake model, never to a generated URL."""
    body = case.body
    if case.operation.label != "POST /sessions" or not isinstance(body, dict):
        return
    if contract.validate_component("CreateSessionRequest", body):
        return  # invalid: the sidecar must refuse it before contacting any model
    body["model_config"] = {
        **body["model_config"],
        "model": "quick",
        "api_endpoint": model_endpoint,
    }


def _reproduce(response: Any, secret: str | None) -> str:
    """The curl line of the request exactly as sent (Schemathesis's own ``as_curl_command``
    masks fields it deems sensitive, ``session_id`` and ``max_tokens`` included, so pasting
    it got another answer): only the shared secret is replaced, by its variable."""
    sent = response.request
    body = sent.body.encode() if isinstance(sent.body, str) else sent.body
    request = httpx.Request(sent.method, sent.url, headers=dict(sent.headers), content=body)
    return to_curl(request, secret)


def _documented(case: Any, status: int) -> bool:
    operation_id = case.operation.definition.raw.get("operationId", "")
    return status in contract.server_error_statuses(operation_id)


@pytest.mark.clause(*FUZZ_CLAUSES)
@schema.parametrize()
def test_operation(
    case: Any, target: TargetOptions, sidecar: SidecarClient, model_endpoint: str
) -> None:
    _point_at_fake_model(case, model_endpoint)
    headers = {"Authorization": f"Bearer {target.secret}"} if target.secret else None
    response = case.call(base_url=target.url, headers=headers, timeout=10)
    try:
        if response.status_code >= 500 and not _documented(case, response.status_code):
            raise ClauseViolation(
                f"{case.operation.label}: undocumented server error",
                "no 5xx beyond the documented ones",
                f"HTTP {response.status_code}: {response.text[:200]}",
                _reproduce(response, target.secret),
                clauses=("FUZZ-NO-SERVER-ERROR",),
            )
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (Failure, FailureGroup) as exc:
        failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
        names = [name for failure in failures for name in type(failure).checks]
        raise ClauseViolation(
            f"{case.operation.label}: {failures[0].title}",
            "a response that conforms to the contract",
            "; ".join(f"{f.title}: {f.message[:200]}" for f in failures),
            _reproduce(response, target.secret),
            clauses=clauses_of(names),
        ) from None
    finally:
        if case.operation.label == "POST /sessions" and response.status_code < 300:
            session_id = (case.body or {}).get("session_id")
            if isinstance(session_id, str):
                sidecar.cancel(session_id)

"""Probes: liveness, its alias, readiness, and no credentials needed."""

from __future__ import annotations

import pytest

from suites.checks.expect import expect_schema, expect_status
from suites.checks.verdict import check
from suites.clientkit.client import SidecarClient


@pytest.mark.clause("PROBE-LIVE")
def test_healthz_answers_ok(sidecar: SidecarClient) -> None:
    response = sidecar.liveness()
    expect_status(response, "getLiveness", "alive")
    expect_schema(response, "Liveness", '/healthz body must be {"status": "ok"}')


@pytest.mark.clause("PROBE-HEALTH-ALIAS")
def test_health_is_an_alias_of_healthz(sidecar: SidecarClient) -> None:
    response = sidecar.health()
    expect_status(response, "getHealth", "alive")
    expect_schema(response, "Liveness", "/health body must equal /healthz's")


@pytest.mark.clause("PROBE-READY")
def test_ready_answers_ready(sidecar: SidecarClient) -> None:
    response = sidecar.readiness()
    expect_status(response, "getReadiness", "ready", "a sidecar under verification must be ready")
    expect_schema(response, "Ready", '/ready body must be {"status": "ready"}')


@pytest.mark.clause("PROBE-NO-AUTH")
def test_probes_need_no_credentials(anonymous: SidecarClient) -> None:
    for response in (anonymous.liveness(), anonymous.health(), anonymous.readiness()):
        check(
            response.status_code not in (401, 403),
            "probes must not demand credentials",
            "no 401/403 without an Authorization header",
            f"HTTP {response.status_code}",
            response,
        )

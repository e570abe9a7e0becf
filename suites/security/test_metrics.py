"""/metrics: the contract's families, parsed with the Prometheus text parser, and that
they move as a session runs."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client.metrics_core import Metric

from contract import metric_families, status_for
from suites.checks.verdict import check, violation
from suites.clientkit.client import SidecarClient
from suites.clientkit.metrics import UNREADABLE, parse_families
from suites.clientkit.recording import record
from suites.plugin.fixtures import QUICK, SessionFactory

HISTOGRAM_COUNT = "_count"


def scrape(sidecar: SidecarClient) -> dict[str, Metric]:
    response = sidecar.metrics()
    ok = status_for("getMetrics", "metrics")
    check(response.status_code == ok, "GET /metrics", f"HTTP {ok}", response.status_code, response)
    try:
        return parse_families(response.text)
    except UNREADABLE as exc:
        violation("/metrics must parse as Prometheus text", "parsable text", str(exc), response)


def totals(families: dict[str, Metric]) -> dict[str, float]:
    """Per family, the sum of its samples (a histogram's: of its _count samples)."""
    result: dict[str, float] = defaultdict(float)
    for name, family in families.items():
        for sample in family.samples:
            if family.type == "histogram" and not sample.name.endswith(HISTOGRAM_COUNT):
                continue
            if family.type == "counter" and not sample.name.endswith("_total"):
                continue
            result[name] += sample.value
    return dict(result)


@pytest.mark.clause("METRICS-FAMILIES")
def test_the_contracts_families_are_exposed(sidecar: SidecarClient) -> None:
    families = scrape(sidecar)
    wrong = []
    for expected in metric_families():
        family = families.get(expected.name)
        if family is None:
            wrong.append(f"{expected.name}: missing")
            continue
        if family.type != expected.type:
            wrong.append(f"{expected.name}: type {family.type}, not {expected.type}")
        for sample in family.samples:
            missing = set(expected.labels) - set(sample.labels)
            if missing:
                wrong.append(f"{sample.name}: no label {sorted(missing)}")
                break
    check(not wrong, "/metrics must expose every family of the contract", "all", wrong)


@pytest.mark.clause("METRICS-MOVE")
def test_metrics_move_as_a_session_runs(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    before = totals(scrape(sidecar))
    session_id = sessions.start(QUICK)
    record(sidecar, session_id, max_silence=max_silence)
    sidecar.status(session_id)
    after = totals(scrape(sidecar))
    still = [
        f"{f.name} ({f.moves}): {before.get(f.name, 0.0)} -> {after.get(f.name, 0.0)}"
        for f in metric_families()
        if f.moves is not None and after.get(f.name, 0.0) <= before.get(f.name, 0.0)
    ]
    check(not still, "metrics must move as a session runs", "every moving family grown", still)

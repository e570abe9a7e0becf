"""/metrics: the contract's families, parsed with the Prometheus text parser, and that
they move as a session runs."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client.metrics_core import Metric

from contract import MetricFamily, profile_metric_families, status_for
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


OPERABLE = "operable"
"""The profile whose families METRICS-OUTCOMES judges (contract/profiles.yaml)."""


def wrong_families(families: dict[str, Metric], expected: tuple[MetricFamily, ...]) -> list[str]:
    """What is missing or mistyped of ``expected`` in a scrape."""
    wrong = []
    for expected_family in expected:
        family = families.get(expected_family.name)
        if family is None:
            wrong.append(f"{expected_family.name}: missing")
            continue
        if family.type != expected_family.type:
            wrong.append(f"{expected_family.name}: type {family.type}, not {expected_family.type}")
        for sample in family.samples:
            missing = set(expected_family.labels) - set(sample.labels)
            if missing:
                wrong.append(f"{sample.name}: no label {sorted(missing)}")
                break
    return wrong


def not_grown(
    before: dict[str, float], after: dict[str, float], expected: tuple[MetricFamily, ...]
) -> list[str]:
    """The moving families of ``expected`` that did not grow between two scrapes."""
    return [
        f"{f.name} ({f.moves}): {before.get(f.name, 0.0)} -> {after.get(f.name, 0.0)}"
        for f in expected
        if f.moves is not None and after.get(f.name, 0.0) <= before.get(f.name, 0.0)
    ]


@pytest.mark.clause("METRICS-FAMILIES")
def test_the_contracts_families_are_exposed(sidecar: SidecarClient) -> None:
    wrong = wrong_families(scrape(sidecar), profile_metric_families(None))
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
    still = not_grown(before, after, profile_metric_families(None))
    check(not still, "metrics must move as a session runs", "every moving family grown", still)


@pytest.mark.clause("METRICS-OUTCOMES")
def test_the_success_rate_families_are_exposed_and_move(
    sidecar: SidecarClient, sessions: SessionFactory, max_silence: float
) -> None:
    expected = profile_metric_families(OPERABLE)
    before_scrape = scrape(sidecar)
    wrong = wrong_families(before_scrape, expected)
    check(not wrong, f"/metrics must expose the {OPERABLE} profile's families", "all", wrong)
    before = totals(before_scrape)
    session_id = sessions.start(QUICK)
    record(sidecar, session_id, max_silence=max_silence)
    sidecar.status(session_id)
    after_scrape = scrape(sidecar)
    wrong = wrong_families(after_scrape, expected)
    check(not wrong, f"/metrics must expose the {OPERABLE} profile's families", "all", wrong)
    still = not_grown(before, totals(after_scrape), expected)
    check(not still, "success-rate metrics must move as a session runs", "all grown", still)

"""Reading a target's ``/metrics`` (Prometheus text): the one parser the soak and security
suites, the load sampler and the tests use, over ``prometheus_client``'s own parser."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

UNREADABLE = (ValueError, TypeError, IndexError)
"""What ``prometheus_client``'s parser raises on text that is not Prometheus text."""


def parse_families(text: str) -> dict[str, Metric]:
    """Families by name; raises one of :data:`UNREADABLE` on text that does not parse."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def unlabelled(families: dict[str, Metric]) -> dict[str, float]:
    """The samples without labels, by sample name (gauges such as ``streams_active``)."""
    return {s.name: s.value for f in families.values() for s in f.samples if not s.labels}


def counter_total(families: dict[str, Metric], name: str) -> float | None:
    """A counter family's ``_total`` samples summed over their labels (``None``: no sample)."""
    family = families.get(name)
    totals = [s.value for s in family.samples if s.name.endswith("_total")] if family else []
    return sum(totals) if totals else None

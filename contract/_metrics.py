"""The metric families ``GET /metrics`` exposes (``x-metric-families`` of the operation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from contract._files import load_openapi

METRIC_TYPES = ("counter", "gauge", "histogram", "summary")


@dataclass(frozen=True)
class MetricFamily:
    """One family: its name as the Prometheus text parser reports it, type and labels."""

    key: str
    """Short handle code uses (``sessions_created``)."""
    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    moves: str | None = None
    """What makes it grow: ``session``, ``request``, or ``None`` (no promise)."""
    profile: str | None = None
    """The profile that requires it (``None``: the base profile's families)."""


@cache
def metric_families() -> tuple[MetricFamily, ...]:
    """Every family the contract requires of ``/metrics``, in contract order."""
    op = load_openapi()["paths"]["/metrics"]["get"]
    families = []
    for raw in op["x-metric-families"]:
        if raw["type"] not in METRIC_TYPES:
            raise ValueError(f"x-metric-families: {raw['name']}: unknown type {raw['type']!r}")
        families.append(
            MetricFamily(
                key=raw["key"],
                name=raw["name"],
                type=raw["type"],
                labels=tuple(raw["labels"]),
                help=raw["help"],
                moves=raw.get("moves"),
                profile=raw.get("profile"),
            )
        )
    return tuple(families)


def profile_metric_families(profile: str | None) -> tuple[MetricFamily, ...]:
    """The families a profile requires (``None``: those every ``/metrics`` exposes)."""
    return tuple(f for f in metric_families() if f.profile == profile)


def metric_family(key: str) -> MetricFamily:
    for family in metric_families():
        if family.key == key:
            return family
    raise KeyError(f"x-metric-families has no family {key!r}")


@cache
def request_id_pattern() -> re.Pattern[str]:
    """The pattern an ``X-Request-ID`` must match to be echoed (components/headers)."""
    header = load_openapi()["components"]["headers"]["RequestId"]
    return re.compile(header["schema"]["pattern"])

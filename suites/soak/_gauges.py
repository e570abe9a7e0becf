"""The target's active streams, read from its /metrics (the client kit's parser)."""

from __future__ import annotations

import time

import httpx

from contract import metric_family, status_for
from suites.clientkit.client import SidecarClient
from suites.clientkit.metrics import UNREADABLE, parse_families, unlabelled


def scrape(client: SidecarClient) -> dict[str, float]:
    """Unlabelled samples of /metrics by name ({} when it is absent or unreadable)."""
    try:
        response = client.metrics()
        if response.status_code != status_for("getMetrics", "metrics"):
            return {}
        return unlabelled(parse_families(response.text))
    except (httpx.HTTPError, *UNREADABLE):
        return {}


def active_streams(client: SidecarClient) -> float | None:
    return scrape(client).get(metric_family("streams_active").name)


def wait_for_streams(
    client: SidecarClient, at_most: float, timeout: float
) -> tuple[float | None, float]:
    """Poll the active streams gauge until it is ``<= at_most`` or ``timeout`` passes;
    (last value, seconds waited)."""
    started = time.monotonic()
    value = active_streams(client)
    while value is not None and value > at_most and time.monotonic() - started < timeout:
        time.sleep(0.05)
        value = active_streams(client)
    return value, time.monotonic() - started

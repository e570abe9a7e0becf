"""The fake model's record of the requests a sidecar made (``GET /_fake/requests``),
attributed to sessions by the unique marker each session's prompt carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from suites.checks.verdict import capability_absent
from suites.clientkit.client import tls_context


@dataclass(frozen=True)
class ModelRequest:
    """One recorded model request, as the fake model read it with the contract's rules."""

    path: str
    received_at: float
    audit: dict[str, Any]

    @property
    def api_key(self) -> str | None:
        key = self.audit.get("api_key")
        return key if isinstance(key, str) else None

    def value(self, setting: str) -> Any:
        return self.audit.get(setting)

    @property
    def declared_tools(self) -> dict[str, Any] | None:
        tools = self.audit.get("declared_tools")
        return tools if isinstance(tools, dict) else None


def recording_url(model_endpoint: str) -> str:
    """``/_fake/requests`` of the fake model behind ``model_endpoint`` (which ends in /v1)."""
    base = model_endpoint.rstrip("/")
    base = base[: -len("/v1")] if base.endswith("/v1") else base
    return f"{base}/_fake/requests"


def recorded_requests(model_endpoint: str, scenario: str) -> list[dict[str, Any]]:
    """What the fake model recorded of ``scenario``'s requests (path, received_at, audit);
    skips the test when the endpoint is not the fake model (it keeps no audit)."""
    url = recording_url(model_endpoint)
    try:
        response = httpx.get(url, params={"model": scenario}, timeout=10.0, verify=tls_context())
    except httpx.HTTPError as exc:
        capability_absent(
            f"the model endpoint keeps no audit ({url}: {type(exc).__name__}); run without "
            "--model-endpoint, or point it at `python -m fakes model-server`",
            flag="--model-endpoint",
        )
    if not response.is_success:  # the fake model's own route, not the contract's
        capability_absent(
            f"the model endpoint keeps no audit ({url} answered {response.status_code}); "
            "run without --model-endpoint, or point it at `python -m fakes model-server`",
            flag="--model-endpoint",
        )
    items: list[dict[str, Any]] = response.json()
    return items


def model_requests(model_endpoint: str, scenario: str, marker: str) -> list[ModelRequest]:
    """The requests of the session whose prompt holds ``marker``, oldest first; skips the
    test when the endpoint is not the fake model (it keeps no audit)."""
    found = []
    for item in recorded_requests(model_endpoint, scenario):
        audit = item.get("audit") or {}
        if marker in str(audit.get("prompt", "")):
            found.append(ModelRequest(str(item.get("path")), float(item["received_at"]), audit))
    return sorted(found, key=lambda r: r.received_at)

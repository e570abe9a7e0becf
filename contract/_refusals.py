"""Which documented answers of an operation refuse a request, and which a valid request may get.

One declaration, derived from each response's ``x-outcome`` in ``openapi.yaml``, of what
every status list handed to a tool means: the fuzz suite's checks and the shipped
``schemathesis.toml`` (written from these by ``suites.fuzz.st_config``) both read it, so a
documented refusal (``413 too_large``) cannot count as a rejection in one and not in the
other.

* a request is *rejected* by any client-error answer (``4xx``: whether that status is
  documented for the operation is another check's business, FUZZ-STATUS-DOCUMENTED) or by
  a documented refusal of 500 or above (``503 limit_reached``): the sidecar did not do
  what was asked (bad input, no credentials, unknown session, body too large, limit);
* a *documented server error* is a documented answer of 500 or above: not a crash;
* a request the schema accepts may get every documented answer except the outcomes that
  mean the request itself is malformed (``MALFORMED_OUTCOMES``), unless the operation
  lists one of them in ``x-valid-request-outcomes`` (a ``Last-Event-ID`` beyond the
  session's log is schema-valid and answered ``invalid``).
"""

from __future__ import annotations

from contract._files import load_openapi
from contract._openapi import operation

MALFORMED_OUTCOMES = frozenset({"invalid", "too_large", "unsupported_media_type"})
"""Outcomes that say the request itself is malformed (the schema or the media type says so)."""

CLIENT_ERRORS = "4xx"
"""Every client-error status, as a class (the form Schemathesis's status lists take)."""

_SERVER_ERROR_FROM = 500


def rejection_statuses(operation_id: str) -> tuple[str, ...]:
    """What rejects a request to ``operation_id``: any 4xx, and its documented 5xx."""
    return (CLIENT_ERRORS, *(str(s) for s in server_error_statuses(operation_id)))


def server_error_statuses(operation_id: str) -> tuple[int, ...]:
    """The documented 5xx answers of ``operation_id`` (an expected refusal, not a crash)."""
    return tuple(sorted(s for s in _statuses(operation_id) if s >= _SERVER_ERROR_FROM))


def valid_request_statuses(operation_id: str) -> tuple[int, ...]:
    """Every status a request the schema accepts may get from ``operation_id``."""
    op = operation(operation_id)
    also = set(valid_request_outcomes(operation_id))
    return tuple(
        sorted(
            status
            for outcome, status in op.outcomes.items()
            if outcome not in MALFORMED_OUTCOMES or outcome in also
        )
    )


def valid_request_outcomes(operation_id: str) -> tuple[str, ...]:
    """``x-valid-request-outcomes`` of the operation: malformed-request outcomes that a
    schema-valid request can still get (the session decides)."""
    op = operation(operation_id)
    raw = load_openapi()["paths"][op.path][op.method.lower()].get("x-valid-request-outcomes", [])
    unknown = [o for o in raw if o not in op.outcomes]
    if unknown:
        raise ValueError(f"{operation_id}: x-valid-request-outcomes names unknown {unknown}")
    return tuple(raw)


def _statuses(operation_id: str) -> set[int]:
    return set(operation(operation_id).outcomes.values())

"""Which catalogue clause each Schemathesis check stands for."""

from __future__ import annotations

from collections.abc import Iterable

CHECK_CLAUSES: dict[str, str] = {
    "not_a_server_error": "FUZZ-NO-SERVER-ERROR",
    "status_code_conformance": "FUZZ-STATUS-DOCUMENTED",
    "content_type_conformance": "FUZZ-CONTENT-TYPE",
    "response_schema_conformance": "FUZZ-RESPONSE-SCHEMA",
    "response_headers_conformance": "FUZZ-RESPONSE-HEADERS",
    "negative_data_rejection": "FUZZ-NEGATIVE-REJECTED",
}
"""``use_after_free`` is left out on purpose: in this contract DELETE cancels a session and
its status stays readable (``cancelled``), so a 200 after DELETE is correct."""

FUZZ_CLAUSES: tuple[str, ...] = tuple(CHECK_CLAUSES.values())


def clauses_of(check_names: Iterable[str]) -> tuple[str, ...]:
    """The clauses a set of failed checks violates (unknown checks: all fuzz clauses)."""
    found = [CHECK_CLAUSES[name] for name in check_names if name in CHECK_CLAUSES]
    return tuple(dict.fromkeys(found)) or FUZZ_CLAUSES

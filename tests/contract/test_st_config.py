"""One declaration of what rejects a request: the fuzz suite and the shipped
``contract/schemathesis.toml`` both take their status lists from the contract's
``x-outcome`` answers (``contract/_refusals.py`` via ``suites/fuzz/st_config.py``)."""

from __future__ import annotations

import tomllib

import pytest
from schemathesis.core.transport import expand_status_codes

from contract import CONTRACT_DIR, operations, status_for
from suites.fuzz.st_config import config_dict, render_toml

SHIPPED = CONTRACT_DIR / "schemathesis.toml"


def test_shipped_config_is_the_derived_one() -> None:
    """Regenerate with ``python -m suites.fuzz.st_config > contract/schemathesis.toml``."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert text == render_toml()
    assert tomllib.loads(text) == config_dict()


def _fuzz_checks(operation_id: str) -> object:
    from suites.fuzz.test_fuzz import schema  # the schema the fuzz suite runs with

    for result in schema.get_all_operations():
        op = result.ok()
        if op.definition.raw.get("operationId") == operation_id:
            return schema.config.checks_config_for(operation=op)
    raise AssertionError(f"no {operation_id}")


def test_fuzz_suite_counts_the_documented_413_as_a_rejection() -> None:
    """FUZZ-NEGATIVE-REJECTED failed the reference's documented 413 for an oversized body."""
    checks = _fuzz_checks("createSession")
    rejections = checks.negative_data_rejection.expected_statuses  # type: ignore[attr-defined]
    assert status_for("createSession", "too_large") in expand_status_codes(rejections)
    assert status_for("createSession", "limit_reached") in expand_status_codes(rejections)


@pytest.mark.parametrize("operation_id", list(operations()))
def test_fuzz_suite_and_shipped_file_tell_the_same_lists(operation_id: str) -> None:
    shipped = {
        entry["include-operation-id"]: entry["checks"]
        for entry in tomllib.loads(SHIPPED.read_text(encoding="utf-8"))["operations"]
        if isinstance(entry["include-operation-id"], str)
    }
    checks = _fuzz_checks(operation_id)
    for name, settings in shipped[operation_id].items():
        if "expected-statuses" in settings:
            told = getattr(checks, name).expected_statuses
            assert told == settings["expected-statuses"], name


def test_documented_503_is_no_server_error_for_the_cli() -> None:
    """st's ST101 fired on the documented 503 ``limit_reached`` of POST /sessions."""
    entry = next(
        e for e in config_dict()["operations"] if e["include-operation-id"] == "createSession"
    )
    limit = str(status_for("createSession", "limit_reached"))
    assert limit in entry["checks"]["not_a_server_error"]["expected-statuses"]

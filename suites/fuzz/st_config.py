"""Schemathesis's configuration for ``contract/openapi.yaml``, derived from the contract.

Every status list Schemathesis is told (what rejects invalid data, which 5xx are no
server error, what a valid request may get) comes from ``contract``'s refusal
declaration (``contract/_refusals.py``, itself read from each response's ``x-outcome``).
The fuzz suite loads :func:`fuzz_config`; the shipped ``contract/schemathesis.toml``, for
Schemathesis's own CLI, is :func:`render_toml` written out (a test asserts the file is
exactly that), so the two cannot disagree::

    python -m suites.fuzz.st_config > contract/schemathesis.toml

The TOML is written by hand (a dozen lines of strings and lists; no TOML writer is a
dependency, and ``tomllib`` reads it back in the test).
"""

from __future__ import annotations

import sys
from typing import Any

from schemathesis.config import SchemathesisConfig

from contract import (
    load_profiles,
    operation,
    operations,
    rejection_statuses,
    server_error_statuses,
    valid_request_statuses,
)

NOT_SERVER_ERRORS = ("2xx", "3xx", "4xx")
"""Schemathesis's own ``not_a_server_error`` classes; documented 5xx are added per operation."""

REQUEST_TIMEOUT_S = 10.0

HEADER = """\
# Schemathesis CLI configuration for contract/openapi.yaml (Schemathesis 4): what the
# contract means where a schema alone cannot say it.
#
# GENERATED from the contract by `python -m suites.fuzz.st_config > contract/schemathesis.toml`
# (tests/contract/test_st_config.py fails when this file differs): every status list below
# is derived from the x-outcome of each documented response (contract/_refusals.py), the
# same lists the fuzz suite of `opencode-sidecar verify` judges with.
#
#   export OPENCODE_SHARED_SECRET=...    # the sidecar's shared secret
#   st --config-file contract/schemathesis.toml run contract/openapi.yaml --url URL \\
#      --checks all --phases examples,coverage,fuzzing,stateful
#
# (benchmarks/schemathesis_cli.py runs exactly that against the reference.)
#
# Per operation:
# - negative_data_rejection: any 4xx rejects invalid data (a body over the size limit is
#   refused 413 before it is parsed, CREATE-TOO-LARGE-413, whatever else in it is invalid),
#   and so does a documented 5xx (at the session limit a create may be refused 503 first);
#   whether the 4xx is documented is status_code_conformance's business;
# - not_a_server_error: a documented 5xx (503 limit_reached, not_ready) is no server error;
# - positive_data_acceptance: a schema-valid request may get every documented answer but
#   the malformed-request ones (invalid, too_large, unsupported_media_type), unless the
#   operation names them in x-valid-request-outcomes (a schema-valid Last-Event-ID beyond
#   the session's log is answered 400, SSE-RESUME-AHEAD).
"""

UAF_NOTE = """\
# DELETE /sessions/{id} cancels a session; it does not remove it: its status stays readable
# ("cancelled") and its stream replays (CANCEL-200, CANCEL-IDEMPOTENT). So a 200 from a read
# of a session after a DELETE is the contract, not a use after free (ST301).
"""

STATEFUL_NOTE = """\
# A check named on the command line wins over this file (Schemathesis's design), so with
# `--checks all` use_after_free judges every read again. A stateful scenario is therefore a
# create and one call on what it created (the status, the stream, or DELETE
# with its real id): no scenario reads a session after cancelling it. Longer chains (a read
# or a second DELETE after a cancel) are what CANCEL-ENDS-STREAM and CANCEL-IDEMPOTENT of
# `opencode-sidecar verify` check.
"""


OPTIONAL_NOTE = """\
# Operations of optional profiles (contract/profiles.yaml `operations:`): a sidecar that does
# not offer the feature answers 404 for a session it did create (without a project, GET
# /sessions/{id}/diff), so "created resource not found" (ST302) after a create says nothing
# about them: they are no target of a stateful scenario (the other phases still call them;
# a `--checks` on the command line would win over a per-operation check setting, not this).
"""


def optional_operations() -> list[str]:
    """The operations an optional profile lists (a target may not serve them)."""
    profiles = load_profiles()
    return [op for p in profiles.profiles if p.name != profiles.base for op in p.operations]


def _codes(statuses: tuple[int, ...]) -> list[str]:
    return [str(s) for s in statuses]


def operation_checks(operation_id: str) -> dict[str, dict[str, list[str]]]:
    """The status lists of each check for one operation (a check with none is left out)."""
    checks: dict[str, dict[str, list[str]]] = {}
    checks["negative_data_rejection"] = {
        "expected-statuses": list(rejection_statuses(operation_id))
    }
    server_errors = server_error_statuses(operation_id)
    if server_errors:
        checks["not_a_server_error"] = {
            "expected-statuses": [*NOT_SERVER_ERRORS, *_codes(server_errors)]
        }
    checks["positive_data_acceptance"] = {
        "expected-statuses": _codes(valid_request_statuses(operation_id))
    }
    return checks


def session_reads() -> list[str]:
    """GET operations on one session: a cancelled session stays readable through them."""
    return [
        op.operation_id
        for op in operations().values()
        if op.method == "GET" and "{session_id}" in op.path
    ]


def operations_config() -> list[dict[str, Any]]:
    """Schemathesis's ``[[operations]]`` entries: the status lists of every operation."""
    entries: list[dict[str, Any]] = [
        {"include-operation-id": op_id, "checks": operation_checks(op_id)} for op_id in operations()
    ]
    entries.append(
        {"include-operation-id": session_reads(), "checks": {"use_after_free": {"enabled": False}}}
    )
    entries.append(
        {
            "include-operation-id": optional_operations(),
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return entries


def config_dict() -> dict[str, Any]:
    """The whole shipped configuration, as ``tomllib`` reads ``contract/schemathesis.toml``."""
    return {
        "headers": {"Authorization": "Bearer ${OPENCODE_SHARED_SECRET}"},
        "request-timeout": REQUEST_TIMEOUT_S,
        "operations": operations_config(),
        "phases": {"stateful": {"max-steps": 2}},
    }


def fuzz_config() -> SchemathesisConfig:
    """The configuration the fuzz suite loads: the same per-operation lists (its headers and
    timeout are set per call)."""
    return SchemathesisConfig.from_dict({"operations": operations_config()})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _operation_block(entry: dict[str, Any]) -> list[str]:
    ids = entry["include-operation-id"]
    lines = []
    if isinstance(ids, str):
        op = operation(ids)
        documented = ", ".join(f"{status} {name}" for name, status in op.outcomes.items())
        lines.append(f"# {op.method} {op.path}: documented {documented}")
    elif "use_after_free" in entry.get("checks", {}):
        lines.append(UAF_NOTE.rstrip("\n"))
    else:
        lines.append(OPTIONAL_NOTE.rstrip("\n"))
    lines += ["[[operations]]", f"include-operation-id = {_toml_value(ids)}"]
    for section in ("checks", "phases"):
        for name, settings in entry.get(section, {}).items():
            for key, value in settings.items():
                lines.append(f"{section}.{name}.{key} = {_toml_value(value)}")
    return lines


def render_toml() -> str:
    """``contract/schemathesis.toml`` as shipped."""
    config = config_dict()
    lines = [
        HEADER,
        "# The bearer token of every guarded operation, from the environment.",
        f"headers = {_toml_value(config['headers'])}",
        f"request-timeout = {_toml_value(config['request-timeout'])}",
    ]
    for entry in config["operations"]:
        lines += ["", *_operation_block(entry)]
    lines += [
        "",
        STATEFUL_NOTE.rstrip("\n"),
        "[phases.stateful]",
        f"max-steps = {config['phases']['stateful']['max-steps']}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_toml())

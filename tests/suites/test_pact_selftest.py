"""The consumer pacts: committed and current, readable by the backend, verified by the
reference; the faults it must catch, with the mismatch each names, are declared with the
faults (``catches["pact"]``, ``evidence``) and run by the faulty self-test."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from contract import EVENTS_DIR, response_schema, validate_event
from fakes.project import make_project
from suites.clientkit.harness import faulty_argv, python_module, start_server
from suites.pact.consumer import HTTP, examples, generate, pact_file, read_event
from suites.pact.files import PACT_DIR
from tests.suites.test_faulty_selftest import SECRET


def _interactions(path: Path) -> list[dict[str, object]]:
    return sorted(json.loads(path.read_text())["interactions"], key=lambda i: str(i))


def test_the_committed_pact_is_what_the_consumer_generates(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert _interactions(fresh) == _interactions(pact_file(PACT_DIR)), (
        "contract/pacts is stale: run `opencode-sidecar pact generate`"
    )


def test_the_backends_examples_are_valid_under_the_contract() -> None:
    from jsonschema import Draft202012Validator

    ex = examples()
    for event, data in ex["events"].items():
        assert validate_event(event, data) == [], event
        assert read_event(event, data)
    schemas = {e.response: response_schema(e.operation_id, e.outcome) for e in HTTP}
    for name, schema in schemas.items():
        if name is not None and schema is not None:
            required = set(schema.get("required", [])) & set(ex["responses"][name])
            partial = {**schema, "required": sorted(required)}
            assert not list(Draft202012Validator(partial).iter_errors(ex["responses"][name]))
    assert {p.stem for p in EVENTS_DIR.glob("*.json")} >= set(ex["events"])


def test_the_backends_reader_refuses_an_event_without_a_field_it_reads() -> None:
    data = dict(examples()["events"]["complete"])
    del data["files_modified"]
    with pytest.raises(KeyError, match="files_modified"):
        read_event("complete", data)


def test_the_backends_reader_refuses_a_timestamp_that_is_not_rfc3339() -> None:
    data = {**examples()["events"]["status"], "timestamp": "25/11/2026 10:00"}
    with pytest.raises(ValueError, match="not RFC 3339"):
        read_event("status", data)


def test_the_reference_verifies_every_interaction(model_url: str, tmp_path: Path) -> None:
    make_project(tmp_path / "project")  # the project interactions need one
    argv = faulty_argv(
        "valid_extra_fields",
        tmp_path / "ws",
        "--secret",
        SECRET,
        "--max-sessions",
        "3",
        "--project-dir",
        str(tmp_path / "project"),
    )
    with start_server(argv) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "pact",
                "verify",
                "--target",
                server.url,
                "--secret",
                SECRET,
                "--model-endpoint",
                model_url,
            ),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"PASS {len(json.loads(pact_file().read_text())['interactions'])}/" in done.stdout

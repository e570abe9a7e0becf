"""Reproduce lines stay readable: a large body is piped from a short shell expression (or
read from a file when it does not compress), and the printed line, run as is, gets the
same answer from a real reference (a fuzzed 100,001-character prompt made a 1.2 MB line)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from contract import operation, status_for
from suites.clientkit.client import SECRET_ENV, to_curl
from suites.clientkit.harness import reference_argv, start_server
from suites.clientkit.reproduce_body import INLINE_MAX

SHORT_LINE = 1200
"""A console line a reader can take in (the old line was 1.2 MB)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    secret = secrets.token_urlsafe(12)
    argv = reference_argv(tmp_path_factory.mktemp("ws"))
    with start_server(argv, env={SECRET_ENV: secret}) as server:
        yield server.url, secret


def _run_line(line: str, secret: str) -> dict[str, object]:
    """Run the printed line in a POSIX shell; the answer's JSON body."""
    done = subprocess.run(
        ["sh", "-c", line],
        capture_output=True,
        env={**os.environ, SECRET_ENV: secret},
        timeout=30,
        check=True,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _create(url: str, secret: str, content: bytes) -> httpx.Request:
    return httpx.Request(
        operation("createSession").method,
        url + operation("createSession").path,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        content=content,
    )


def test_oversized_fuzz_body_is_a_short_line_that_reproduces(reference: tuple[str, str]) -> None:
    url, secret = reference
    body = {"session_id": "0b0a6c1e-1111-4222-8333-944455556666", "prompt": "x" * 100_001}
    body["model_config"] = {}
    request = _create(url, secret, json.dumps(body).encode())
    with httpx.Client() as client:
        sent = client.send(request)
    assert sent.status_code == status_for("createSession", "invalid")  # prompt over its cap
    line = to_curl(request, secret)
    assert len(line) < SHORT_LINE, line[:300]
    assert secret not in line
    assert _run_line(line, secret)["error"] == sent.json()["error"]


def test_incompressible_large_body_goes_to_a_file(reference: tuple[str, str]) -> None:
    url, secret = reference
    noise = secrets.token_hex(4 * INLINE_MAX)
    content = json.dumps({"session_id": "not-a-uuid", "prompt": noise}).encode()
    request = _create(url, secret, content)
    with httpx.Client() as client:
        sent = client.send(request)
    line = to_curl(request, secret)
    assert len(line) < SHORT_LINE, line[:300]
    source = line.split("--data-binary @", 1)[1].split(" ", 1)[0]
    assert Path(source).read_bytes() == content
    answer = _run_line(line, secret)
    assert answer["error"] == sent.json()["error"]
    assert answer.get("details") == sent.json().get("details")

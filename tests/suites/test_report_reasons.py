"""Reports explain themselves: every SKIP and ERROR carries its reason, naming the verify
flag that enables the check (or the clause it depends on), on the console, in the
Markdown and HTML reports and in JUnit; reproduce lines run as printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from opencode_sidecar.cli import build_parser
from suites.clientkit.client import SECRET_ENV, to_curl
from suites.clientkit.harness import faulty_argv, python_module, start_server
from suites.plugin.report import reason, to_html, to_markdown

FLAG = re.compile(r"--[a-z][a-z-]+")


def verify_flags() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    verify = sub.choices["verify"]  # type: ignore[index]
    return {flag for action in verify._actions for flag in action.option_strings}


def _explained(text: str, flags: set[str], clause_ids: set[str]) -> bool:
    named_flags = set(FLAG.findall(text)) & flags
    named_clauses = {c for c in clause_ids if f"(see {c})" in text}
    return bool(named_flags or named_clauses)


def test_every_skip_and_error_names_its_flag(model_url: str, tmp_path: Path) -> None:
    # no secret, no --session-timeout, no --restart-cmd, and no WebSocket: skips of each kind
    argv = faulty_argv("no_websocket", tmp_path / "ws", "--heartbeat-interval", "0.5")
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    with start_server(argv, stderr=subprocess.DEVNULL) as server:
        done = subprocess.run(
            python_module(
                "opencode_sidecar",
                "verify",
                "--target",
                server.url,
                "--model-endpoint",
                model_url,
                "--heartbeat-interval",
                "0.5",
                "--suite",
                "conformance",
                "--suite",
                "durability",
                "--only",
                "AUTH-*,SESSION-*,WS-*",
                "--only",
                "DURABLE-*",
                "--report",
                str(report),
                "--junit",
                str(junit),
            ),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    result: dict[str, Any] = json.loads(report.read_text())
    unexplained = [c for c in result["clauses"] if c["outcome"] in ("skip", "error")]
    assert {c["id"] for c in unexplained} >= {"AUTH-REQUIRED", "SESSION-TIMEOUT", "WS-REPLAY"}
    assert any(c["id"].startswith("DURABLE-") for c in unexplained)
    flags, ids = verify_flags(), {c["id"] for c in result["clauses"]}
    markdown, page = to_markdown(result), to_html(result)
    in_junit = " ".join(
        str(element.get("message"))
        for case in ET.parse(junit).iter("testcase")
        for element in case
        if element.tag in ("skipped", "error")
    )
    console = " ".join(done.stdout.split())  # rich wraps long lines
    for clause in unexplained:
        why = reason(clause)
        assert _explained(why, flags, ids), f"{clause['id']}: {why!r}"
        named = FLAG.findall(why)
        assert not named or named[0] in flags, f"{clause['id']} names a pytest option first: {why}"
        assert why in markdown and why in page.replace("&#x27;", "'"), clause["id"]
        assert " ".join(why.split()) in console, f"{clause['id']} not on the console"
        assert why.split("; ")[0] in in_junit, f"{clause['id']} not in JUnit"
    assert "--secret" in reason(next(c for c in unexplained if c["id"] == "AUTH-REQUIRED"))


def test_reproduce_lines_run_as_printed() -> None:
    secret = "s3cr'et $x"
    body = {"session_id": "0b0a6c1e-1111-4222-8333-944455556666", "max_tokens": 7}
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:9/sessions",
        headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "abc"},
        json=body,
    )
    line = to_curl(request, secret)
    assert secret not in line and f"${SECRET_ENV}" in line
    assert "[Filtered]" not in line and "max_tokens" in line
    shell = f'curl() {{ printf "%s\\n" "$@"; }}; {line}'
    done = subprocess.run(
        ["bash", "-c", shell],
        capture_output=True,
        text=True,
        env={SECRET_ENV: secret, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    args = done.stdout.splitlines()
    assert f"authorization: Bearer {secret}" in args
    assert json.loads(args[args.index("--data-binary") + 1]) == body
    assert args[-1] == "http://127.0.0.1:9/sessions"
    assert shlex.split(line)[0] == "curl"

"""Schemathesis's own CLI against the reference, with the configuration shipped beside the
contract: a third-party tool must find 0 failures, and its stateful phase must reach
``DELETE /sessions/{id}`` with the ids of sessions it created (not only 404s).

    .venv/bin/python benchmarks/schemathesis_cli.py [extra st run options]

Runs, against a reference started on a free port of 127.0.0.1 (fake runtime, a random
shared secret in ``OPENCODE_SHARED_SECRET``)::

    st --config-file contract/schemathesis.toml run contract/openapi.yaml --url URL \\
       --checks all --phases examples,coverage,fuzzing,stateful

It prints its summary, then the answers DELETE got from the HAR report, and exits with
st's exit code (1 also when DELETE never reached a created session).
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from contract import CONTRACT_DIR, OPENAPI_PATH, operation, status_for
from suites.clientkit.harness import reference_argv, start_server

CONFIG = CONTRACT_DIR / "schemathesis.toml"
PHASES = "examples,coverage,fuzzing,stateful"


def st_command(url: str, report_dir: Path, extra: list[str]) -> list[str]:
    st = str(Path(sys.executable).with_name("st"))
    return [
        st,
        "--config-file",
        str(CONFIG),
        "run",
        str(OPENAPI_PATH),
        "--url",
        url,
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--report",
        "har",
        "--report-dir",
        str(report_dir),
        *extra,
    ]


def delete_answers(report_dir: Path) -> collections.Counter[int]:
    """Status codes of every DELETE of a session path in the HAR report."""
    path = re.compile(operation("cancelSession").path.replace("{session_id}", "[^/?]+") + "$")
    found: collections.Counter[int] = collections.Counter()
    for har in report_dir.glob("*.json"):
        for entry in json.loads(har.read_text())["log"]["entries"]:
            request = entry["request"]
            if request["method"] == "DELETE" and path.search(request["url"].split("?")[0]):
                found[int(entry["response"]["status"])] += 1
    return found


def main(extra: list[str]) -> int:
    secret = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="ocs-st-") as tmp:
        work = Path(tmp)
        argv = reference_argv(
            work / "workspace",
            "--heartbeat-interval",
            "1",
            "--session-timeout",
            "5",
            "--max-sessions",
            "50",
        )
        # the secret in the environment of both, as deployed (a token may start with "-")
        env = {"OPENCODE_SHARED_SECRET": secret}
        with start_server(argv, env=env) as server:
            command = st_command(server.url, work / "reports", extra)
            print(" ".join(command), flush=True)
            done = subprocess.run(command, env={**os.environ, **env}, check=False)
        answers = delete_answers(work / "reports")
    not_found = status_for("cancelSession", "not_found")
    reached = sum(n for status, n in answers.items() if status != not_found and status < 500)
    shown = ", ".join(f"{status}: {n}" for status, n in sorted(answers.items()))
    print(
        f"st exit code {done.returncode}; DELETE answers {{{shown}}}; "
        f"{reached} reached a created session"
    )
    if done.returncode == 0 and reached == 0:
        print("DELETE never reached a session it created")
        return 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

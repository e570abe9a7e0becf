"""PERMISSION_TIMEOUT requested vs observed (prints figures; not a test).

For each requested timeout, the reference (``opencode-sidecar serve --permission-timeout
T``, a subprocess on the fake runtime) runs ``permission_bash`` sessions whose bash call
asks (``permissions: {bash: ask}``) and nobody answers. Observed, per request:

* ``events``: the ``permission_resolved`` event's timestamp minus the request's (the
  sidecar's own clock);
* ``client``: when this client read ``permission_resolved`` minus when it read the request;
* ``expires_at``: its timestamp minus the request's (what the sidecar announced).

    .tox/test/bin/python benchmarks/permission_timeout.py [--timeouts 1,2,5] [--sessions 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from suites.clientkit.client import model_config, session_body
from suites.clientkit.harness import fake_model_server, reference_argv, start_server


def _at(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def one_request(url: str, model: str) -> tuple[float, float, float]:
    """(events, client, expires_at) seconds for one unanswered request."""
    session_id = str(uuid.uuid4())
    body = session_body(session_id, "note=t1", model_config("permission_bash", model))
    body["permissions"] = {"bash": "ask"}
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/sessions", json=body).status_code == 201
        seen: dict[str, tuple[float, dict[str, str]]] = {}
        with http.stream("GET", f"/sessions/{session_id}/stream") as stream:
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind.startswith("permission_"):
                    seen[kind] = (time.monotonic(), json.loads(line[6:]))
                if "permission_resolved" in seen:
                    break
    (asked_at, asked), (resolved_at, resolved) = (
        seen["permission_request"],
        seen["permission_resolved"],
    )
    assert resolved["by"] == "timeout", resolved
    assert resolved["decision"] == "deny", resolved
    return (
        _at(resolved["timestamp"]) - _at(asked["timestamp"]),
        resolved_at - asked_at,
        _at(asked["expires_at"]) - _at(asked["timestamp"]),
    )


def main(timeouts: list[float], sessions: int) -> None:
    with fake_model_server() as model, tempfile.TemporaryDirectory() as tmp:
        for requested in timeouts:
            argv = reference_argv(
                Path(tmp) / f"ws-{requested:g}",
                "--permission-timeout",
                str(requested),
                "--max-sessions",
                str(sessions),
            )
            with start_server(argv) as server, ThreadPoolExecutor(sessions) as pool:
                runs = list(pool.map(lambda _: one_request(server.url, model.url), range(sessions)))
            for n, label in enumerate(("events", "client", "expires_at")):
                values = [run[n] for run in runs]
                print(
                    f"PERMISSION_TIMEOUT {requested:g} s: {label:10} observed "
                    f"min {min(values):.3f} s, median {statistics.median(values):.3f} s, "
                    f"max {max(values):.3f} s (over by at most {max(values) - requested:+.3f} s; "
                    f"{sessions} requests at once)"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", default="1,2,5")
    parser.add_argument("--sessions", type=int, default=3)
    args = parser.parse_args()
    main([float(t) for t in args.timeouts.split(",")], args.sessions)

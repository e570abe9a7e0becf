"""Smoke test of a running sidecar image: /ready reports confined tools, and one session
(scenario ``read_edit_bash`` of the fake model) completes. Standard library only, so it
runs with the host's python3 next to an image.

    python3 scripts/smoke_session.py SIDECAR_URL MODEL_URL
"""

# ruff: noqa: S310  (URLs are the two http:// arguments of this smoke test, checked in main)
from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid


def main(sidecar: str, model: str) -> int:
    if not all(url.startswith("http://") for url in (sidecar, model)):
        print("smoke: both URLs must be http://", file=sys.stderr)
        return 2
    deadline = time.monotonic() + 120
    ready: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{sidecar}/ready", timeout=5) as answer:
                ready = json.load(answer)
                break
        except OSError:
            time.sleep(1)
    sandbox = ready.get("sandbox")
    if not isinstance(sandbox, dict) or sandbox.get("confined") is not True:
        print(f"smoke: /ready does not report confined tools: {ready}", file=sys.stderr)
        return 1
    session_id = str(uuid.uuid4())
    body = {
        "session_id": session_id,
        "prompt": "Do as scripted.",
        "model_config": {
            "provider": "openai",
            "model": "read_edit_bash",
            "api_key": "sk-smoke",
            "api_endpoint": model,
            "enabled_tools": ["read", "write", "edit", "bash"],
        },
    }
    request = urllib.request.Request(
        f"{sidecar}/sessions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    last = ""
    with urllib.request.urlopen(f"{sidecar}/sessions/{session_id}/stream", timeout=120) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                last = line[6:].strip()
                if last in ("complete", "error"):
                    break
    if last != "complete":
        print(f"smoke: the session ended with {last or 'nothing'}", file=sys.stderr)
        return 1
    print(f"smoke: /ready {sandbox}; session {session_id} completed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

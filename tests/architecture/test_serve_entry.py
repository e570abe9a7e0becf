"""The serve image's entry point (``python -m opencode_sidecar.serve``) loads the
sidecar's own dependencies only: the image installs no test or load tool."""

from __future__ import annotations

import subprocess
import sys

NOT_IN_THE_SERVE_IMAGE = ("pytest", "_pytest", "locust", "pact", "schemathesis", "hypothesis")


def test_the_serve_entry_point_imports_no_tool_of_verify_or_load() -> None:
    probe = (
        "import sys, opencode_sidecar.serve, opencode_sidecar.runtimes, reference_server.app; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert "aiohttp" in loaded  # the probe saw the sidecar's own imports
    assert not loaded & set(NOT_IN_THE_SERVE_IMAGE), sorted(loaded & set(NOT_IN_THE_SERVE_IMAGE))

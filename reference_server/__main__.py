"""``python -m reference_server`` = ``opencode-sidecar serve``."""

from __future__ import annotations

import sys

from opencode_sidecar.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

"""``python -I -m fakes.confined_io WORKSPACE``: the confined file tool child, now
:mod:`reference_server.workspace_tools.confined_io`; kept as an entry point."""

from __future__ import annotations

import sys

from reference_server.workspace_tools.confined_io import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

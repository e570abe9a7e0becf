"""``python -m opencode_sidecar`` = ``opencode-sidecar``."""

import sys

from opencode_sidecar.cli import main

sys.exit(main())

"""Where the committed pacts live (no Pact import: the CLI's parser needs only this, and
the serve image has no Pact)."""

from __future__ import annotations

from pathlib import Path

PACT_DIR = Path(__file__).resolve().parents[2] / "contract" / "pacts"

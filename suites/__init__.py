"""Verification suites, runnable against any sidecar URL (they reach it over HTTP only)."""

SUITES = (
    "conformance",
    "fuzz",
    "lifecycle_model",
    "security",
    "agent",
    "conversation",
    "project",
    "pact",
    "retention",
    "soak",
    "durability",
)
"""Suite packages under ``suites/`` that ``opencode-sidecar verify`` can run."""

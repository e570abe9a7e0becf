"""A local sidecar started with given server settings, and what verify is then told.

One dict of server settings (``Config`` field names -> values) gives both: the flags (and,
for the secret, the environment) that start the reference or a faulty sidecar with them,
and the ``TargetOptions`` fields that declare them to the suites; each setting's
declaration says under which verify flag (``verify=``), so neither side restates the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.settings import StartWords, start_words, told
from reference_server.config import Config
from suites.plugin.target import TargetOptions


def serve_words(settings: Mapping[str, Any]) -> StartWords:
    """The serve flags and environment that start a sidecar with ``settings``."""
    return start_words(Config, settings)


def target_fields(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``TargetOptions`` fields that tell verify a sidecar runs with ``settings``."""
    return told(Config, settings, (TargetOptions,))

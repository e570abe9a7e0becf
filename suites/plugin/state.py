"""Where a pytest run keeps what it was given: the target, the run options, the recorder.

:class:`GivenSettings` is how ``opencode-sidecar verify`` hands the objects it built to
pytest (a plugin instance, not an argv re-parsed on the other side); without one, the
plugin builds them from pytest's own options.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from suites.plugin.outcomes import ClauseRecorder
from suites.plugin.target import RunOptions, TargetOptions

recorder_key = pytest.StashKey[ClauseRecorder]()
target_key = pytest.StashKey[TargetOptions | None]()
run_key = pytest.StashKey[RunOptions]()


@dataclass(frozen=True)
class GivenSettings:
    """A pytest plugin object carrying the settings a caller already built."""

    target: TargetOptions
    run: RunOptions


def target_or_skip(config: pytest.Config) -> TargetOptions:
    target = config.stash[target_key]
    if target is None:
        pytest.skip("no target: pass --sidecar-url URL (or SIDECAR_URL); verify: --target URL")
    return target


def run_options(config: pytest.Config) -> RunOptions:
    return config.stash[run_key]

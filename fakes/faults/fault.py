"""A faulty sidecar's declaration: what it breaks, which suites must say so, and how it is built.

Each fault module (``rest``, ``stream``, ``ws``, ``security``, ``soak``, ``durability``, ...)
declares its faults beside the code that makes them, in a module-level ``FAULTS`` list;
:mod:`fakes.faults.catalogue` only merges those lists. A fault names every suite that must
catch it and the exact clauses each must report (``catches``); the self-test runs each
(fault, suite) pair and demands exactly those (the suites in :data:`AT_LEAST_SUITES` may
report more, see there). A valid variation declares the suites it must pass with ``()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from reference_server.hooks import StreamFilter, StreamHooks, WebSocketFilter
from reference_server.runtime import Runtime

AT_LEAST_SUITES = frozenset({"fuzz"})
"""Suites whose generated inputs may trip more clauses than a fault declares (Schemathesis
can meet one fault through several checks): there the declared clauses are a minimum."""


@dataclass(frozen=True)
class Fault:
    """One way to be wrong (or, with only empty ``catches``, one valid way to differ)."""

    name: str
    description: str
    catches: Mapping[str, tuple[str, ...]]
    """Suite (``suites/<suite>``) -> the clauses it must report failed; ``()``: must pass."""
    evidence: Mapping[str, str] = field(default_factory=dict)
    """Clause -> a piece of text its failure must show (the mismatch it names)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    middleware: Middleware | None = None
    stream: type[StreamFilter] | None = None
    ws: type[WebSocketFilter] | None = None
    hooks: type[StreamHooks] | None = None
    runtime: Callable[[Runtime], Runtime] | None = None
    patch_app: Callable[[web.Application], None] | None = None

    def __post_init__(self) -> None:
        if not self.catches:
            raise ValueError(f"fault {self.name!r} names no suite that must catch (or pass) it")
        stray = set(self.evidence) - set(self.violates)
        if stray:
            raise ValueError(f"fault {self.name!r}: evidence for clauses it does not break {stray}")

    @property
    def violates(self) -> frozenset[str]:
        """Every clause the fault breaks, over all its suites."""
        return frozenset(c for clauses in self.catches.values() for c in clauses)

    @property
    def is_valid_variation(self) -> bool:
        return not self.violates

"""Faulty sidecars: the merge of every fault module's ``FAULTS`` list, and the app builder.

Each fault is declared beside its code (``fakes/faults/<topic>.py``, see
:class:`~fakes.faults.fault.Fault`); this module only finds those lists, rejects a name
declared twice, and builds a faulty app: the reference with the fault's modifiers applied
(a config override, a middleware, a stream filter, a runtime wrapper, an app patch).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from fakes.faults.fault import Fault
from reference_server.app import create_app
from reference_server.config import Config
from reference_server.hooks import StreamFilter, StreamHooks, WebSocketFilter
from reference_server.project import Project
from reference_server.runtime import Runtime
from reference_server.sessions import Session
from reference_server.storage import Storage


def merge(declared: Iterable[Fault]) -> dict[str, Fault]:
    """Faults by name; a name declared twice is an error naming it."""
    faults: dict[str, Fault] = {}
    for fault in declared:
        if fault.name in faults:
            raise ValueError(f"fault {fault.name!r} is declared twice")
        faults[fault.name] = fault
    return faults


USERS = frozenset({"catalogue", "serve"})
"""Modules of the package that use the catalogue rather than declare faults."""


def _declared() -> Iterable[Fault]:
    """Every ``FAULTS`` list of the modules of :mod:`fakes.faults`, in module order."""
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    for name in sorted(m.name for m in modules if m.name not in USERS):
        module = importlib.import_module(f"fakes.faults.{name}")
        yield from getattr(module, "FAULTS", ())


FAULTS: Mapping[str, Fault] = merge(_declared())


def create_faulty_app(
    fault: Fault, config: Config, runtime: Runtime, project: Project | None = None
) -> web.Application:
    """The reference app with ``fault`` applied (``project``: ``PROJECT_DIR``'s, opened)."""
    config = replace(config, **dict(fault.config))
    if fault.runtime is not None:
        runtime = fault.runtime(runtime)
    filter_class = fault.stream or StreamFilter
    ws_class = fault.ws or WebSocketFilter

    class Hooks(fault.hooks or StreamHooks):  # type: ignore[misc]
        def open(self, session: Session, requested_after: int | None) -> StreamFilter:
            return filter_class(session, requested_after)

        def open_ws(self, session: Session, requested_after: int | None) -> WebSocketFilter:
            return ws_class(session, requested_after)

    app = create_app(
        config,
        runtime,
        hooks=Hooks(),
        middlewares=[fault.middleware] if fault.middleware is not None else [],
        storage=Storage.open(config.storage_dir) if config.storage_dir is not None else None,
        project=project,
    )
    if fault.patch_app is not None:
        fault.patch_app(app)
    return app


def _catches(fault: Fault) -> str:
    return " ".join(
        f"{suite}:{','.join(clauses) or 'pass'}" for suite, clauses in fault.catches.items()
    )


def describe() -> str:
    """One line per fault: name, clauses, description."""
    return "\n".join(f"{f.name:34} {_catches(f):60} {f.description}" for f in FAULTS.values())


__all__ = ["FAULTS", "Fault", "create_faulty_app", "describe"]

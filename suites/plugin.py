"""pytest plugin (entry point ``pytest11``): clause markers checked against the catalogue.

``@pytest.mark.clause("SSE-RESUME")`` tags a test with the clause it verifies; an id the
catalogue does not list is a collection error, and the node id shows the clause.
"""

from __future__ import annotations

import pytest

from contract import load_catalogue


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the contract clause ids (contract/clauses.yaml) a test verifies"
    )


def clause_ids(item: pytest.Item) -> tuple[str, ...]:
    """The clause ids an item is tagged with, in marker order."""
    return tuple(i for marker in item.iter_markers("clause") for i in marker.args)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    catalogue = load_catalogue()
    unknown = sorted(
        {f"{item.nodeid}: {i}" for item in items for i in clause_ids(item) if i not in catalogue}
    )
    if unknown:
        raise pytest.UsageError(
            "clause ids missing from contract/clauses.yaml:\n  " + "\n  ".join(unknown)
        )

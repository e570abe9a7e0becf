"""What a target claims (its conformance profiles) and which operations it therefore serves.

Checks that walk every operation of the contract (auth on every route, e.g.) walk only the
operations of claimed profiles (``contract/profiles.yaml``), and among those of an optional
profile (not the base one), only the ones the target serves: an operation that answers
``not_found`` to an authenticated call on a live session is not there at all, and the
clauses of its own profile (``WS-UPGRADE``, e.g.) report that, once.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from contract import Operation, load_profiles, operations, status_for
from suites.plugin.target import TargetOptions


def claimed_operations(target: TargetOptions) -> list[Operation]:
    """The contract's operations that belong to a profile the target claims."""
    profiles = load_profiles()
    return [
        op for op in operations().values() if target.claims(profiles.of_operation(op.operation_id))
    ]


def served(op: Operation, call: Callable[[Operation], httpx.Response]) -> bool:
    """Whether ``op`` exists on the target: always for the base profile; for an optional
    profile, unless ``call`` (an authenticated call on a live session) answers not_found."""
    if load_profiles().of_operation(op.operation_id) == load_profiles().base:
        return True
    return call(op).status_code != status_for(op.operation_id, "not_found")

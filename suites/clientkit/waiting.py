"""Waiting for a condition, never for a fixed time: poll ``predicate`` until it holds or the
deadline passes (then fail saying what was awaited and what was last seen).

Hand-written (a dozen lines) rather than taken from tenacity or polling2: the one thing
needed is a deadline and a message, in both a thread and an event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.02


class NotReached(AssertionError):
    """The condition did not hold before the deadline."""


def wait_until(
    predicate: Callable[[], T], deadline: float, what: str, interval: float = POLL_INTERVAL
) -> T:
    """``predicate()``'s first truthy value, polled until ``deadline`` seconds from now."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise NotReached(f"not {what} within {deadline:g} s (last seen: {value!r})")
        time.sleep(interval)


async def until(
    predicate: Callable[[], T | Awaitable[T]],
    deadline: float,
    what: str,
    interval: float = POLL_INTERVAL,
) -> T:
    """:func:`wait_until` in an event loop; ``predicate`` may be a coroutine function."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= end:
            raise NotReached(f"not {what} within {deadline:g} s (last seen: {value!r})")
        await asyncio.sleep(interval)

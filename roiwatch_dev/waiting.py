"""Waiting for something to become true: one polling rule, for plain code and for an event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str | None = None
) -> T:
    """Poll ``predicate`` until it is true and return its value.

    At the timeout: its last (false) value, or, given ``what``, an AssertionError naming it.
    """
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            if what is not None:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            return result
        time.sleep(interval)
    return result


async def wait_for(
    predicate: Callable[[], object], what: str, timeout: float = 30.0, interval: float = 0.05
) -> float:
    """As wait_until, on an event loop (sleeping lets it run); the moment it held (monotonic).

    At the timeout an AssertionError names ``what``.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic()

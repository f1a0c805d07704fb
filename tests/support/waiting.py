"""Wait on lifecycle events, never on sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from semsearch.lifecycle import IndexManager

DEFAULT_TIMEOUT = 60.0


async def wait_for(
    manager: IndexManager, condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Return once ``condition()`` holds, re-checking after every state change."""
    with manager.bus.subscribe(manager.statuses) as updates:
        async with asyncio.timeout(timeout):
            async for _ in updates:  # the first is the snapshot: the condition is checked at once
                if condition():
                    return
    raise AssertionError("the event bus closed before the condition held")


async def wait_all_ready(manager: IndexManager, timeout: float = DEFAULT_TIMEOUT) -> None:
    await wait_for(manager, manager.all_ready, timeout)

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
    subscription = manager.bus.subscribe()
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                if await subscription.queue.get() is None:
                    raise AssertionError("the event bus closed before the condition held")
    finally:
        subscription.close()


async def wait_all_ready(manager: IndexManager, timeout: float = DEFAULT_TIMEOUT) -> None:
    await wait_for(manager, manager.all_ready, timeout)

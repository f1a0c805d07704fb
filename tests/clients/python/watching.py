"""Drive a WatchStream in the background and wait on what it delivered, never on timers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable

from semsearch_client import SemsearchError, WatchStream, WatchUpdate
from semsearch_client.messages import READY
from semsearch_client.watch import OnRetry


class Watcher:
    """Collects every update of a watch and every resubscription attempt it reports."""

    def __init__(self, make_stream: Callable[[OnRetry], WatchStream]) -> None:
        self.updates: list[WatchUpdate] = []
        self.retries: list[tuple[int, float, SemsearchError | None]] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self.stream = make_stream(self._on_retry)
        self.task = asyncio.create_task(self._read())
        self.task.add_done_callback(lambda _: self._changed.set())

    def _on_retry(self, attempt: int, delay: float, error: SemsearchError | None) -> None:
        self.retries.append((attempt, delay, error))
        self._changed.set()

    async def _read(self) -> None:
        try:
            async for update in self.stream:
                self.updates.append(update)
                self._changed.set()
        except SemsearchError as exc:
            self.error = exc

    async def until(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        """Wait until ``condition()`` holds, re-checking after every update or retry."""
        async with asyncio.timeout(timeout):
            while not condition() and not self.task.done():
                self._changed.clear()  # no await since the check: nothing can slip in between
                await self._changed.wait()
        assert condition(), f"the watch ended first: {self.error!r}"

    async def close(self) -> None:
        # Cancel the reading task first: a generator cannot be closed while it runs in another task.
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.stream.aclose()

    def of_subscription(self, number: int) -> list[WatchUpdate]:
        return [u for u in self.updates if u.subscription == number]

    def states(self) -> dict[str, int]:
        """The consumer's view: every snapshot replaces it, every event updates it."""
        view: dict[str, int] = {}
        for update in self.updates:
            if update.snapshot is not None:
                view = {ix.name: ix.state for ix in update.snapshot.indexes}
            elif update.event is not None:
                view[update.event.index] = update.event.state
        return view

    def all_ready(self) -> bool:
        view = self.states()
        return bool(view) and all(state == READY for state in view.values())

    def transitions(self, subscription: int = 1) -> dict[str, list[tuple[int, int]]]:
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for update in self.of_subscription(subscription):
            if update.event is not None:
                seen[update.event.index].append((update.event.previous_state, update.event.state))
        return seen

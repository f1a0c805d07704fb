"""Follow AdminService/WatchIndexes into a WatchView, and poll rebuild progress while an index is
REBUILDING (progress changes are not stream events).

Resubscribing is the Python client's watch (``semsearch_client.watch``); this module turns what it
reports into the view: every message, and every wait before another subscription ("reconnecting").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from semsearch.api.v1 import admin_pb2, types_pb2
from semsearch.console.contract import typed, typed_all
from semsearch.console.errors import cause
from semsearch.console.session import Session
from semsearch.console.watch_view import WatchView
from semsearch_client import Backoff, SemsearchError

POLL_SECONDS = 0.5
# As documented for `semsearch watch`: 0.5 s doubling to 10 s, the same for every watcher.
RESUBSCRIBE = Backoff(initial=0.5, maximum=10.0, jitter=0.0)


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` pass. Not ``asyncio.wait_for``: on Python 3.11 it can
    swallow a cancellation that coincides with the event, leaving a loop that should stop running."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Follower:
    """Feeds ``view`` until cancelled; ``on_change`` runs (on the loop) after every change to it.

    The first subscription must start within the session's timeout: failing it raises (unreachable
    or refused). Later breaks only resubscribe — a restarting server is what watching is for.
    ``on_message`` sees every stream message after the view applied it.
    """

    def __init__(
        self,
        session: Session,
        view: WatchView,
        names: Sequence[str] = (),
        on_change: Callable[[], None] = lambda: None,
        on_message: Callable[[admin_pb2.WatchIndexesResponse], None] = lambda message: None,
        poll_progress: bool = True,
        backoff: Backoff | None = None,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.view = view
        self.names = list(names)
        self.on_change = on_change
        self.on_message = on_message
        self.poll_progress = poll_progress
        self.backoff = backoff or RESUBSCRIBE
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._changed = asyncio.Event()

    async def run(self) -> None:
        poller = asyncio.create_task(self._poll()) if self.poll_progress else None
        try:
            await self._follow()
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    async def _follow(self) -> None:
        watch = self.session.client.watch_indexes(
            self.names,
            backoff=self.backoff,
            on_retry=self._reconnecting,
            fail_fast=True,
            start_timeout=self.session.timeout,
        )
        async with watch:
            async for update in watch:
                message = typed(update.message, admin_pb2.WatchIndexesResponse)
                self.view.apply(message, self.clock())
                self._changed.set()
                self.on_message(message)
                self.on_change()

    def _reconnecting(self, attempt: int, delay: float, error: SemsearchError | None) -> None:
        """Before each wait to resubscribe: the view shows why, and when the next try comes."""
        why = "the server ended the stream" if error is None else cause(error, self.session.timeout)
        now = self.clock()
        self.view.disconnected(why, now, now + delay)
        self.on_change()

    async def _poll(self) -> None:
        """The provider's space after every change; the listing's progress while anything rebuilds."""
        client = self.session.client
        while True:
            if self.view.rebuilding():
                await wait_at_most(self._changed, self.poll_seconds)
            else:
                await self._changed.wait()
            self._changed.clear()
            try:
                space = await client.get_embedding_space()
                listing = await client.list_indexes() if self.view.rebuilding() else None
            except SemsearchError:
                continue  # the stream notices a lost server and says so; polling just tries again
            self.view.space = typed(space, admin_pb2.GetEmbeddingSpaceResponse)
            if listing is not None:
                self.view.apply_progress(typed_all(listing, types_pb2.Index))
            self.on_change()

"""Follow AdminService/WatchIndexes into a WatchView: resubscribe with backoff when the stream breaks,
and poll rebuild progress while an index is REBUILDING (progress changes are not stream events).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from semsearch.api.v1 import admin_pb2
from semsearch.console.errors import is_transient, short_cause, unreachable
from semsearch.console.session import Session
from semsearch.console.watch_view import WatchView

POLL_SECONDS = 0.5


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` pass. Not ``asyncio.wait_for``: on Python 3.11 it can
    swallow a cancellation that coincides with the event, leaving a loop that should stop running."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


@dataclass
class Backoff:
    """Doubling delays between resubscriptions, back to ``initial`` once a stream delivers again."""

    initial: float = 0.5
    cap: float = 10.0
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class Follower:
    """Feeds ``view`` until cancelled; ``on_change`` runs (on the loop) after every change to it.

    The first subscription must succeed: failing it raises (unreachable or refused). Later breaks
    only resubscribe — a restarting server is what watching is for. ``on_message`` sees every stream
    message after the view applied it.
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
        self.backoff = backoff or Backoff()
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
        timeout = self.session.timeout
        while True:
            try:
                await self._subscribe_once()
                cause = "the server ended the stream"
            except grpc.aio.AioRpcError as exc:
                if not is_transient(exc) or not self.view.snapshots:
                    raise  # refused for good, or never reachable: the command reports it
                cause = short_cause(exc, timeout)
            except TimeoutError:
                if not self.view.snapshots:
                    raise unreachable(self.session.target, f"no answer within {timeout:g}s") from None
                cause = f"no answer within {timeout:g}s"
            delay = self.backoff.next()
            now = self.clock()
            self.view.disconnected(cause, now, now + delay)
            self.on_change()
            await asyncio.sleep(delay)

    async def _subscribe_once(self) -> None:
        """One stream, from its snapshot to its end; returns when the server ends it cleanly."""
        call = self.session.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(indexes=self.names))
        try:
            async with asyncio.timeout(self.session.timeout):
                message = await call.read()
            while message is not grpc.aio.EOF:
                assert isinstance(message, admin_pb2.WatchIndexesResponse)
                self.view.apply(message, self.clock())
                self.backoff.reset()
                self._changed.set()
                self.on_message(message)
                self.on_change()
                message = await call.read()
        finally:
            call.cancel()

    async def _poll(self) -> None:
        """The provider's space after every change; the listing's progress while anything rebuilds."""
        admin, timeout = self.session.admin, self.session.timeout
        while True:
            if self.view.rebuilding():
                await wait_at_most(self._changed, self.poll_seconds)
            else:
                await self._changed.wait()
            self._changed.clear()
            try:
                space = await admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest(), timeout=timeout)
                listing = None
                if self.view.rebuilding():
                    listing = await admin.ListIndexes(admin_pb2.ListIndexesRequest(), timeout=timeout)
            except grpc.aio.AioRpcError:
                continue  # the stream notices a lost server and says so; polling just tries again
            self.view.space = space
            if listing is not None:
                self.view.apply_progress(listing.indexes)
            self.on_change()

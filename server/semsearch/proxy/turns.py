"""Turns at the model: queries before documents, and beside them where the model allows it.

A real model spreads each call over every core, so calls take turns anyway (see
``models._engine_call_lock``); this decides *whose* turn is next. Without it, a search's query that
arrives while a rebuild's batches wait would be embedded after all of them. Every call asks for a
turn with its priority: queries first, then documents by the fewest texts left in their request (a
probe's one text, then the batch closest to done), in arrival order among equals. Queries never
starve documents: after ``QUERY_STREAK`` query turns in a row while a document waits, the document
gets the next turn (searches that never stop would otherwise stall every rebuild and probe).

A document request is embedded in slices, each a turn of its own, so that a query waits at most
for the slice being embedded, never for whole batches. A slice holds as many texts as the model
embeds in about ``TURN_SECONDS`` (measured as it goes, per character), and at least two per core:
e5-small spreads a call's texts over the cores, one text per thread, and one or two texts per call
leave it splitting each text's matrix products instead, which was 2-3 times slower on 2 busy
cores. Before each slice the request's client is asked whether it is still there: the slices of a
batch whose client gave up (a timeout, then a retry of the same batch) are not embedded for no one.

A lane model (e5-small) does better than turns for queries: a query does not wait for the slice in
flight at all. It runs at once on a lane of its own, beside the slice, and the slices run on the
document lane: one thread of the proxy's own whose scheduling priority is lowered
(``DOCUMENT_NICE``), as are the engine threads it starts. The operating system then gives a query
the cores the moment it wants them and hands them back to the documents when it is done, so a
rebuild still uses every core between searches. Waiting for a slice cost a query about half a
slice (on 2 cores, 400 ms at the median against 46 ms idle). Documents still take turns among
themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from starlette.concurrency import run_in_threadpool

from semsearch.logs import event
from semsearch.proxy.models import EmbeddingModel, InputType, LaneModel, Vectors, cpu_count

log = logging.getLogger(__name__)

TURN_SECONDS = 0.1  # a document slice's target length: what a query may have to wait for
TEXTS_PER_CORE = 2  # the fewest texts per slice, per core: every core gets whole texts to embed
QUERY, DOCUMENT = 0, 1  # priorities: lower goes first
QUERY_STREAK = 4  # query turns in a row while a document waits, before the document's turn
_SMOOTHING = 0.3  # weight of the latest slice in the per-character cost
DOCUMENT_NICE = 10  # added to the document lane's niceness: queries first, documents keep a share
_LOWEST_PRIORITY = 19  # the highest niceness Linux has

_document_lane: ThreadPoolExecutor | None = None


def _lower_priority() -> None:
    """Lower the calling thread's priority (Linux schedules threads one by one; elsewhere, no-op)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)  # the process's own, which threads inherit
        os.setpriority(os.PRIO_PROCESS, thread, min(_LOWEST_PRIORITY, nice + DOCUMENT_NICE))
    except OSError as exc:  # a sandbox may forbid it: documents then compete with queries as equals
        event(log, "proxy_document_priority_unchanged", level=logging.WARNING, error=str(exc))


def document_lane() -> ThreadPoolExecutor:
    """The process's one document lane: a single thread, at a lower priority than queries."""
    global _document_lane  # noqa: PLW0603 - one lane per process, made on first use
    if _document_lane is None:
        _document_lane = ThreadPoolExecutor(1, "proxy-documents", initializer=_lower_priority)
    return _document_lane


@dataclass(order=True)
class _Waiter:
    key: tuple[int, int, int]  # (priority, texts left in its request, arrival)
    granted: asyncio.Future[None] = field(compare=False)


class Turns:
    """Grants one turn at a time: to the query that asked first, else to the document with the
    smallest key; every ``QUERY_STREAK + 1``-th turn goes to a waiting document.

    A request that needs another turn asks for it (``ask``) before it gives up the one it holds
    (``release``), so its next slice competes with everything already waiting rather than losing
    to whatever waits alone.
    """

    def __init__(self) -> None:
        self._busy = False
        self._waiting: dict[int, list[_Waiter]] = {QUERY: [], DOCUMENT: []}  # heaps
        self._arrivals = itertools.count()
        self._streak = 0  # query turns granted in a row while a document waited

    def ask(self, priority: int, texts_left: int) -> _Waiter:
        """Get in line; ``wait`` for the turn."""
        key = (priority, texts_left, next(self._arrivals))
        waiter = _Waiter(key, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting[priority], waiter)
        return waiter

    async def wait(self, waiter: _Waiter) -> None:
        """Until ``waiter``'s turn; then the caller holds the model until it calls ``release``."""
        self._grant()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.release()  # granted, then cancelled before it ran: the turn goes on
            raise

    def release(self) -> None:
        self._busy = False
        self._grant()

    @contextlib.asynccontextmanager
    async def turn(self, priority: int, texts_left: int) -> AsyncIterator[None]:
        """One turn, held for the ``async with`` block."""
        await self.wait(self.ask(priority, texts_left))
        try:
            yield
        finally:
            self.release()

    @property
    def waiting(self) -> int:
        return sum(1 for line in self._waiting.values() for waiter in line if not waiter.granted.done())

    def _grant(self) -> None:
        if self._busy:
            return
        queries, documents = (self._drop_cancelled(self._waiting[p]) for p in (QUERY, DOCUMENT))
        if not queries and not documents:
            return
        if queries and not (documents and self._streak >= QUERY_STREAK):
            self._streak = self._streak + 1 if documents else 0
            waiter = heapq.heappop(queries)
        else:
            self._streak = 0
            waiter = heapq.heappop(documents)
        waiter.granted.set_result(None)
        self._busy = True

    @staticmethod
    def _drop_cancelled(line: list[_Waiter]) -> list[_Waiter]:
        """``line`` without the waiters cancelled at its head (the rest go when they reach it)."""
        while line and line[0].granted.done():
            heapq.heappop(line)
        return line


class ClientGone(Exception):
    """The client of a document request went away before all of its slices were embedded."""

    def __init__(self, embedded: int, total: int) -> None:
        super().__init__(f"client gone after {embedded} of {total} texts")
        self.embedded, self.total = embedded, total


class SliceCost:
    """Seconds per character of a model's document slices, smoothed; sizes the next slice."""

    def __init__(self, fewest: int) -> None:
        self.fewest = fewest  # texts in a slice at least (the remainder of a request may be fewer)
        self.per_char: float | None = None

    def slice_end(self, texts: Sequence[str], start: int) -> int:
        """The end of the slice starting at ``start``: ``fewest`` texts, then more while they fit
        ``TURN_SECONDS`` (none more until a slice was measured)."""
        end = min(len(texts), start + self.fewest)
        if self.per_char is None:
            return end
        budget = TURN_SECONDS / self.per_char if self.per_char > 0 else float("inf")
        chars = sum(len(text) for text in texts[start:end])
        while end < len(texts) and chars + len(texts[end]) <= budget:
            chars += len(texts[end])
            end += 1
        return end

    def measured(self, texts: Sequence[str], seconds: float) -> None:
        latest = seconds / max(1, sum(len(text) for text in texts))
        previous = self.per_char
        self.per_char = latest if previous is None else previous + _SMOOTHING * (latest - previous)


class TurnTaker:
    """Embeds requests: a query in one turn (or on its own lane), documents slice by slice."""

    def __init__(self, fewest_texts: int | None = None) -> None:
        self.turns = Turns()
        self.fewest_texts = fewest_texts or TEXTS_PER_CORE * cpu_count()
        self._costs: dict[str, SliceCost] = {}
        self._query_lane = asyncio.Lock()  # one query at a time on a lane model's query lane

    async def embed(
        self,
        model: EmbeddingModel,
        texts: Sequence[str],
        input_type: InputType,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> Vectors:
        """The vectors of ``texts``; raises ClientGone when ``gone()`` says so before a slice."""
        if input_type == "query":
            if isinstance(model, LaneModel):
                return await self._beside(model, texts)
            async with self.turns.turn(QUERY, len(texts)):
                return await self._call(model, texts, input_type)
        cost = self._costs.setdefault(model.name, SliceCost(self.fewest_texts))
        parts: list[Vectors] = []
        start, holding = 0, False
        ticket = self.turns.ask(DOCUMENT, len(texts))
        try:
            await self.turns.wait(ticket)
            holding = True
            while True:
                if gone is not None and await gone():
                    raise ClientGone(start, len(texts))
                end = cost.slice_end(texts, start)
                began = time.perf_counter()
                parts.append(await self._document_slice(model, texts[start:end]))
                cost.measured(texts[start:end], time.perf_counter() - began)
                start = end
                if start >= len(texts):
                    break
                ticket = self.turns.ask(DOCUMENT, len(texts) - start)  # in line before letting go
                holding = False
                self.turns.release()
                await self.turns.wait(ticket)
                holding = True
        finally:
            if holding:
                self.turns.release()
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    async def _beside(self, model: LaneModel, texts: Sequence[str]) -> Vectors:
        async with self._query_lane:
            return await run_in_threadpool(model.embed_beside, texts, "query")

    async def _document_slice(self, model: EmbeddingModel, texts: Sequence[str]) -> Vectors:
        if not isinstance(model, LaneModel):
            return await self._call(model, texts, "document")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(document_lane(), model.embed_beside, list(texts), "document")

    async def _call(self, model: EmbeddingModel, texts: Sequence[str], input_type: InputType) -> Vectors:
        # Off the event loop: a real model holds a core (or all of them) for the whole call.
        return await run_in_threadpool(model.embed, texts, input_type)

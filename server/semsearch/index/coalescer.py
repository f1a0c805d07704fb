"""Coalesced exact search: concurrent searches on the same index object share one matrix product.

A lone query is scored at once (or after ``window`` seconds, when one is configured). Queries that
arrive while a batch of the same index is being scored wait for it and then go together, so under
load batches grow by themselves and the matrix is read once per batch instead of once per query.

When a batch scored in a thread ends, the searches it answered are usually followed by their
callers' next ones a round trip later. Scoring at once only those already waiting would split N
steady callers into two halves that alternate, each batch reading the whole matrix for half of
them; so the next batch waits for the answered callers to come back (it starts as soon as they all
have), for at most half the time the batch took: callers that do not come back cost at most that.

Batches are keyed by the index object each request holds: requests that took the index before a
swap are scored against that old object, never mixed with the new one in one product.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from semsearch.index.batch import SearchSpec, search_many
from semsearch.index.product import RowSplitProduct
from semsearch.index.scored import ScoredChunk
from semsearch.index.vector import VectorIndex

# Above this many rows × queries a batch costs milliseconds: score it in a worker thread (numpy
# releases the GIL); below, the thread hop would cost more than the product.
OFFLOAD_ROWS = 20_000
DEFAULT_MAX_BATCH = 64
# How long a batch waits for the callers the previous one answered: this share of the time that
# batch took, at most REGROUP_MAX seconds. Worth it while it is no longer than one more pass over
# the matrix, which is most of a batch of a few queries (they share one read of the matrix).
REGROUP_SHARE = 0.5
REGROUP_MAX = 0.025


@dataclass(eq=False)
class _Waiting:
    spec: SearchSpec
    future: asyncio.Future[list[ScoredChunk]]


@dataclass(eq=False)
class _Queue:
    """The searches waiting on one index object, and whether a batch of it is being scored."""

    waiting: list[_Waiting] = field(default_factory=list)
    busy: bool = False
    flush: asyncio.Handle | None = None
    regroup: int = 0  # while a flush is held for answered callers to come back: how many to wait for


class SearchCoalescer:
    def __init__(
        self,
        window: float = 0.0,
        max_batch: int = DEFAULT_MAX_BATCH,
        offload_rows: int = OFFLOAD_ROWS,
        threads: int | None = None,
        regroup_share: float = REGROUP_SHARE,
        regroup_max: float = REGROUP_MAX,
    ) -> None:
        if window < 0 or max_batch < 1 or regroup_share < 0 or regroup_max < 0:
            raise ValueError("window, regroup_share and regroup_max must be >= 0, max_batch >= 1")
        self.window = window
        self.max_batch = max_batch
        self.offload_rows = offload_rows
        self.regroup_share = regroup_share  # 0: no regrouping, the next batch starts at once
        self.regroup_max = regroup_max
        self.product = RowSplitProduct(threads)  # offloaded batches split their product this wide
        # By identity; emptied queues are dropped, and weak keys let a swapped-out index go while a
        # regroup wait (which holds no search) is still pending for it.
        self._queues: weakref.WeakKeyDictionary[VectorIndex, _Queue] = weakref.WeakKeyDictionary()
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  # scored so far, and the searches in them: their ratio is the mean batch size
        self.searches = 0

    async def search(self, index: VectorIndex, spec: SearchSpec) -> list[ScoredChunk]:
        """The hits of ``spec`` on ``index``, exactly as ``index.search`` would give them."""
        index.check_query(spec.vector)  # a bad query fails alone, not its whole batch
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(index, _Queue())
        future: asyncio.Future[list[ScoredChunk]] = loop.create_future()
        waiting = _Waiting(spec, future)
        queue.waiting.append(waiting)
        if not queue.busy:
            if len(queue.waiting) >= (queue.regroup or self.max_batch):
                self._flush(index, queue)
            elif queue.flush is None:
                # call_soon still gathers every search that arrives in this turn of the loop.
                queue.flush = (
                    loop.call_later(self.window, self._flush, index, queue)
                    if self.window > 0
                    else loop.call_soon(self._flush, index, queue)
                )
        try:
            return await future
        except asyncio.CancelledError:
            if waiting in queue.waiting:  # not scored yet: it no longer counts towards a full batch
                queue.waiting.remove(waiting)
            raise

    def _flush(self, index: VectorIndex, queue: _Queue) -> None:
        """Score the waiting searches of ``index`` (at most ``max_batch``) unless a batch is running."""
        if queue.flush is not None:
            queue.flush.cancel()
            queue.flush = None
        queue.regroup = 0
        if queue.busy:
            return  # the running batch flushes again when it ends
        live = [w for w in queue.waiting if not w.future.done()]  # cancelled callers are skipped
        batch, queue.waiting = live[: self.max_batch], live[self.max_batch :]
        if not batch:
            self._forget_if_idle(index, queue)
            return
        self.batches += 1
        self.searches += len(batch)
        if len(index) * len(batch) <= self.offload_rows:
            try:
                _deliver(batch, search_many(index, [w.spec for w in batch], self.product))
            except Exception as exc:
                _fail(batch, exc)
            self._next(index, queue)
            return
        queue.busy = True
        task = asyncio.get_running_loop().create_task(self._score_in_thread(index, queue, batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _score_in_thread(self, index: VectorIndex, queue: _Queue, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        answered = 0
        try:
            results = await asyncio.to_thread(search_many, index, [w.spec for w in batch], self.product)
        except BaseException as exc:
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            _deliver(batch, results)
            answered = len(batch)
        finally:
            queue.busy = False
            self._next(index, queue, answered, time.perf_counter() - started)

    def _next(self, index: VectorIndex, queue: _Queue, answered: int = 0, took: float = 0.0) -> None:
        """After a batch: score whoever waits, or first wait a little for the ``answered`` callers."""
        expected = min(self.max_batch, len(queue.waiting) + answered)
        delay = min(took * self.regroup_share, self.regroup_max)
        if answered and len(queue.waiting) < expected and delay > 0:
            # Whoever waits has waited a whole batch already: only as long as a share of it more.
            queue.regroup = expected
            held = weakref.ref(index)  # the wait alone must not keep a swapped-out index alive
            queue.flush = asyncio.get_running_loop().call_later(delay, self._regrouped, held, queue)
        elif queue.waiting:
            self._flush(index, queue)
        else:
            self._forget_if_idle(index, queue)

    def _regrouped(self, held: weakref.ref[VectorIndex], queue: _Queue) -> None:
        index = held()
        if index is not None:
            self._flush(index, queue)

    def _forget_if_idle(self, index: VectorIndex, queue: _Queue) -> None:
        # Dropping the entry drops the reference: a swapped-out index's matrix can be freed.
        if not queue.waiting and not queue.busy and queue.flush is None and self._queues.get(index) is queue:
            del self._queues[index]


def _deliver(batch: Sequence[_Waiting], results: Sequence[list[ScoredChunk]]) -> None:
    for waiting, hits in zip(batch, results, strict=True):
        if not waiting.future.done():
            waiting.future.set_result(hits)


def _fail(batch: Sequence[_Waiting], exc: BaseException) -> None:
    for waiting in batch:
        if not waiting.future.done():
            if isinstance(exc, asyncio.CancelledError):
                waiting.future.cancel()
            else:
                waiting.future.set_exception(exc)

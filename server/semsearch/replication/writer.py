"""On the indexer: every change its manager publishes goes to the shared log, in order, fenced by
the lease epoch, so that an indexer that lost its lease can never write over its successor."""

from __future__ import annotations

import asyncio
import logging

from semsearch.backoff import backoff_ceiling
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.lifecycle import IndexManager, StateChange
from semsearch.logs import event
from semsearch.replication.protocol import SharedLog
from semsearch.replication.records import Record, change_record, space_record

log = logging.getLogger(__name__)

RETRY_CAP = 5.0
KEEP_EVENTS = 10_000  # the log keeps this many changes: a stream away for longer resumes from a snapshot
TRIM_EVERY = 500  # appends between two trims


class LogWriter:
    def __init__(self, shared: SharedLog, manager: IndexManager, keep: int = KEEP_EVENTS) -> None:
        self.shared = shared
        self.keep = keep
        self.trim_every = TRIM_EVERY
        self.epoch: int | None = None  # set while this replica holds the lease
        self.written = 0
        self.last_sequence = 0  # the position of the last change this replica appended
        self.fenced = 0
        self._queue: asyncio.Queue[tuple[str, Record, int]] = asyncio.Queue()
        manager.bus.add_listener(self._on_change)
        manager.add_built_listener(self._on_built)

    def lead(self, epoch: int) -> None:
        self.epoch = epoch

    def stop_leading(self) -> None:
        self.epoch = None

    def _on_change(self, change: StateChange) -> None:
        if self.epoch is not None:  # a follower's mirrored changes are the log's own: not again
            self._queue.put_nowait(("change", change_record(change), self.epoch))

    def forward_rebuild(self, indexes: list[str], reason: str) -> bool:
        """On a replica that does not index: hand the request to the indexer through the log."""
        if self.epoch is not None:
            return False  # this replica is the indexer: it rebuilds itself
        self._queue.put_nowait(("request", {"indexes": indexes, "reason": reason}, 0))
        return True

    def _on_built(self, space: EmbeddingSpace) -> None:
        if self.epoch is not None:
            self._queue.put_nowait(("space", space_record(space), self.epoch))

    async def run(self) -> None:
        while True:
            kind, record, epoch = await self._queue.get()
            try:
                await self._write(kind, record, epoch)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until everything queued so far is written (or fenced out)."""
        await self._queue.join()

    async def _write(self, kind: str, record: Record, epoch: int) -> None:
        failures = 0
        while True:
            try:
                if kind == "space":
                    await asyncio.to_thread(self.shared.record_built_space, record, epoch)
                    return
                if kind == "request":
                    await asyncio.to_thread(self.shared.request_rebuild, record["indexes"], record["reason"])
                    return
                sequence = await asyncio.to_thread(self.shared.append, record, epoch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep the order, try again
                failures += 1
                if kind != "request" and self.epoch != epoch:
                    return  # the lease went meanwhile: the successor writes from here on
                delay = backoff_ceiling(0.1, RETRY_CAP, failures)
                event(log, "shared_log_write_failed", level=logging.WARNING, error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            if sequence is None:
                self.fenced += 1
                event(
                    log, "shared_log_write_fenced", level=logging.WARNING, epoch=epoch, index=record["index"]
                )
            else:
                self.written += 1
                self.last_sequence = max(self.last_sequence, sequence)
                if self.written % self.trim_every == 0:
                    await self._trim()
            return

    async def _trim(self) -> None:
        try:
            dropped = await asyncio.to_thread(self.shared.trim, self.keep)
        except Exception as exc:  # only space is at stake: the next trim tries again
            event(log, "shared_log_trim_failed", level=logging.WARNING, error=str(exc))
            return
        if dropped:
            event(log, "shared_log_trimmed", dropped=dropped, kept=self.keep)

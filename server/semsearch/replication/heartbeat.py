"""Each replica says, every few seconds, what it serves: the indexes READY here and their
generations, its position in the log and whether it indexes. Status reads every live report, so
an operator sees the whole deployment from any replica; the answer also tells how far behind the
log this replica is (replication lag)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from semsearch.lifecycle import IndexManager, IndexState
from semsearch.logs import event
from semsearch.replication.protocol import SharedLog
from semsearch.replication.records import Record
from semsearch.replication.tail import LogTail

log = logging.getLogger(__name__)

ALIVE_BEATS = 5  # a replica not heard from for this many beats is left out of status


class Heartbeat:
    def __init__(
        self,
        shared: SharedLog,
        manager: IndexManager,
        tail: LogTail,
        name: str,
        leading: Callable[[], bool],
        every_seconds: float = 2.0,
    ) -> None:
        self.shared = shared
        self.manager = manager
        self.tail = tail
        self.name = name
        self.leading = leading
        self.every_seconds = every_seconds
        self.head = 0  # the log's newest position, as of the last beat
        self.started_at = time.time()

    @property
    def lag(self) -> int:
        """Changes in the log this replica has not applied yet (as of the last beat)."""
        return max(self.head - self.tail.sequence, 0)

    def report(self) -> Record:
        slots = self.manager.slots.values()
        return {
            "name": self.name,
            "indexer": self.leading(),
            "log_sequence": self.tail.sequence,
            "started_at": self.started_at,
            "serving": {
                slot.name: slot.generation
                for slot in slots
                if slot.state is IndexState.READY and slot.index is not None
            },
        }

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # the database away: the tail reports it already
                self.head = await asyncio.to_thread(self.shared.report_replica, self.name, self.report())
            await asyncio.sleep(self.every_seconds)

    async def replicas(self) -> list[Record]:
        """Every live replica's last report (this one's as of now)."""
        reports = await asyncio.to_thread(self.shared.replicas, self.every_seconds * ALIVE_BEATS)
        mine = {**self.report(), "seen_at": time.time()}
        others = [r for r in reports if r.get("name") != self.name]
        event(log, "replicas_listed", replicas=len(others) + 1)
        return sorted([mine, *others], key=lambda r: str(r["name"]))

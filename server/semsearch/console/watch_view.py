"""What `semsearch watch` knows: indexes, recent events, the link to the server. Pure state.

The stream is the truth for states; polled listings only fill in rebuild progress, which the
server does not stream (progress is not an event).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from semsearch.api.v1 import admin_pb2, types_pb2
from semsearch.console.labels import seconds

LOG_LIMIT = 200
REBUILDING = types_pb2.INDEX_STATE_REBUILDING


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the event log; ``index`` is empty for notes about the stream itself."""

    time: float
    index: str = ""
    previous: int = 0
    state: int = 0
    reason: str = ""
    generation: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """The subscription: ``connecting``, ``live`` or ``reconnecting`` (with why and when it retries)."""

    status: str = "connecting"
    detail: str = ""
    retry_at: float = 0.0
    attempts: int = 0  # failed resubscriptions since the stream broke


@dataclass
class WatchView:
    target: str
    indexes: dict[str, types_pb2.Index] = field(default_factory=dict)
    log: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    link: Link = field(default_factory=Link)
    space: admin_pb2.GetEmbeddingSpaceResponse | None = None
    sequence: int = 0  # of the last message on the current stream
    snapshots: int = 0  # received over every stream: more than one means a resubscription or a resync
    logged: int = 0  # log lines ever appended (the log itself keeps the latest LOG_LIMIT)

    def apply(self, message: admin_pb2.WatchIndexesResponse, now: float) -> None:
        self.sequence = message.sequence
        self.link = Link("live")
        if message.WhichOneof("payload") == "snapshot":
            self.indexes = {ix.name: ix for ix in message.snapshot.indexes}
            self.snapshots += 1
            if self.snapshots > 1:  # after a resubscription, or in place of events this client missed
                self._note(LogLine(now, reason=f"fresh snapshot of {len(self.indexes)} indexes"))
            return
        event = message.event
        self.indexes[event.index] = event.current
        # A failure that keeps the state shows its error; a transition's reason says enough.
        error = event.current.last_error if event.previous_state == event.state else ""
        if event.previous_state == REBUILDING and event.state != types_pb2.INDEX_STATE_READY:
            error = event.current.last_error
        self._note(
            LogLine(
                seconds(event.time) or now,
                event.index,
                event.previous_state,
                event.state,
                event.reason,
                event.current.generation,
                error,
            )
        )

    def apply_progress(self, polled: Iterable[types_pb2.Index]) -> bool:
        """Take rebuild progress from a polled listing; states stay the stream's. True if it changed."""
        changed = False
        for ix in polled:
            mine = self.indexes.get(ix.name)
            if mine is None or mine.state != REBUILDING or ix.state != REBUILDING:
                continue  # the listing is older or newer than the stream: its progress is not ours
            if ix.HasField("progress") and ix.progress != mine.progress:
                mine.progress.CopyFrom(ix.progress)
                changed = True
        return changed

    def _note(self, line: LogLine) -> None:
        self.log.append(line)
        self.logged += 1

    def since(self, seen: int) -> list[LogLine]:
        """Log lines appended after the first ``seen`` (as many as are still kept)."""
        fresh = min(self.logged - seen, len(self.log))
        return list(self.log)[len(self.log) - fresh :] if fresh > 0 else []

    def rebuilding(self) -> list[types_pb2.Index]:
        return [ix for ix in self.indexes.values() if ix.state == REBUILDING]

    def disconnected(self, detail: str, now: float, retry_at: float) -> None:
        """The stream broke (logged once) or another resubscription failed (counted in the link)."""
        attempts = self.link.attempts + 1 if self.link.status == "reconnecting" else 0
        if not attempts:
            self._note(LogLine(now, reason=f"stream broken: {detail}"))
        self.link = Link("reconnecting", detail, retry_at, attempts)

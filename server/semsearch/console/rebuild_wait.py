"""When is a requested rebuild over? Pure bookkeeping over the watch stream for `reindex --wait`.

Done: every target is READY in a generation newer than when the request was accepted (a rebuild
in the same space and one forced by a space change both swap in a new generation). Failed: a
target's rebuild failed after the request went out (REBUILDING → PARKED, or a failure event that
keeps the state) and it has not been rebuilt since.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from semsearch.api.v1 import admin_pb2, types_pb2

READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)


@dataclass
class RebuildWait:
    armed: bool = False  # set just before the request is sent: earlier failures are not ours
    baseline: dict[str, int] = field(default_factory=dict)  # target -> generation when accepted
    failures: dict[str, str] = field(default_factory=dict)

    def accepted(self, response: admin_pb2.ReindexResponse) -> None:
        self.baseline = {ix.name: ix.generation for ix in response.indexes}

    def observe(self, message: admin_pb2.WatchIndexesResponse) -> None:
        if not self.armed or message.WhichOneof("payload") != "event":
            return
        event = message.event
        failed = (event.previous_state == REBUILDING and event.state == PARKED) or (
            event.previous_state == event.state and bool(event.current.last_error)
        )
        if failed:
            self.failures[event.index] = event.current.last_error or event.reason

    def rebuilt(self, ix: types_pb2.Index | None) -> bool:
        return ix is not None and ix.state == READY and ix.generation > self.baseline.get(ix.name, 0)

    def outcome(self, indexes: dict[str, types_pb2.Index]) -> str | None:
        """``rebuilt``, ``failed`` or None while still waiting (or before the request was accepted)."""
        if not self.baseline:
            return None
        pending = [name for name in self.baseline if not self.rebuilt(indexes.get(name))]
        if not pending:
            return "rebuilt"
        if any(name in self.failures for name in pending):
            return "failed"
        return None

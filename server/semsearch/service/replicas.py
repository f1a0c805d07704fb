"""ListReplicas: the replicas' reports as messages, and the report of a server that runs alone."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from semsearch.api.v1 import admin_pb2
from semsearch.lifecycle import IndexManager, IndexState
from semsearch.service import convert

Report = dict[str, Any]  # see replication.heartbeat.Heartbeat.report
Reports = Callable[[], Awaitable[list[Report]]]


def alone(manager: IndexManager, name: Callable[[], str]) -> Reports:
    """A server without replicas reports itself: it is its own indexer."""

    async def reports() -> list[Report]:
        return [
            {
                "name": name(),
                "indexer": True,
                "log_sequence": manager.bus.latest_sequence,
                "serving": {
                    slot.name: slot.generation
                    for slot in manager.slots.values()
                    if slot.state is IndexState.READY and slot.index is not None
                },
                "seen_at": time.time(),
            }
        ]

    return reports


def replica(report: Report, answering: str) -> admin_pb2.Replica:
    return admin_pb2.Replica(
        name=str(report["name"]),
        indexer=bool(report["indexer"]),
        log_sequence=int(report["log_sequence"]),
        serving={str(k): int(v) for k, v in dict(report["serving"]).items()},
        seen_at=convert.timestamp(float(report["seen_at"])),
        answering=report["name"] == answering,
    )

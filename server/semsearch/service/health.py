"""grpc.health.v1.Health: overall SERVING while up; one service name per index, SERVING iff READY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from grpc_health.v1 import health, health_pb2

from semsearch.lifecycle import IndexManager, IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)

INDEX_SERVICE_PREFIX = "semsearch.index."
SERVICES = ("semsearch.v1.SearchService", "semsearch.v1.AdminService")


def index_service_name(index: str) -> str:
    return INDEX_SERVICE_PREFIX + index


def _status(state: IndexState) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return (
        health_pb2.HealthCheckResponse.SERVING
        if state is IndexState.READY
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )


class EndingHealthServicer(health.aio.HealthServicer):  # type: ignore[misc]
    """The reference servicer, except that Watch streams end (OK) once they have reported
    NOT_SERVING for the shutdown: otherwise they hold the server's stop for the whole grace period."""

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        condition = self._server_watchers[request.service]
        self._watcher_count_by_service[request.service] += 1
        last_status = None
        try:
            async with condition:
                while True:
                    status = self._server_status.get(
                        request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                    )
                    if status != last_status:
                        await context.write(health_pb2.HealthCheckResponse(status=status))
                    last_status = status
                    if self._gracefully_shutting_down:
                        return  # the final status is written: nothing will change any more
                    await condition.wait()
        finally:
            self._watcher_count_by_service[request.service] -= 1
            if self._watcher_count_by_service[request.service] == 0:
                del self._server_watchers[request.service]
                del self._watcher_count_by_service[request.service]


class HealthReporter:
    """Follows the event bus in order and mirrors every index state into the health service."""

    def __init__(self, manager: IndexManager) -> None:
        self.manager = manager
        self.servicer = EndingHealthServicer()
        self._subscription = manager.bus.subscribe()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for name in ("", *SERVICES):
            await self.servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        for status in self.manager.statuses():
            await self.servicer.set(index_service_name(status.name), _status(status.state))
        self._task = asyncio.create_task(self._follow(), name="semsearch-health")

    async def _follow(self) -> None:
        while True:
            change = await self._subscription.queue.get()
            if change is None:
                return
            # Under a backlog the newest state is what matters: read it from the slot itself.
            await self.servicer.set(
                index_service_name(change.index), _status(self.manager.slots[change.index].state)
            )

    async def shutdown(self) -> None:
        """Everything NOT_SERVING, so load balancers drain before the server stops."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._subscription.close()
        await self.servicer.enter_graceful_shutdown()
        event(log, "health_not_serving", services=1 + len(SERVICES) + len(self.manager.slots))

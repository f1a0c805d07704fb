"""grpc.health.v1.Health: overall SERVING while up; one service name per index, SERVING iff READY."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from semsearch.lifecycle import IndexManager, IndexState
from semsearch.lifecycle.events import SUBSCRIBER_QUEUE_LIMIT, Resync, Update
from semsearch.logs import event
from semsearch.service.health_servicer import NOT_SERVING, SERVING, HealthServicer, ServingStatus

log = logging.getLogger(__name__)

INDEX_SERVICE_PREFIX = "semsearch.index."
SERVICES = ("semsearch.v1.SearchService", "semsearch.v1.AdminService")
HEALTH_SUBSCRIPTION = "health"  # the bus subscription kind of the health reporter


def index_service_name(index: str) -> str:
    return INDEX_SERVICE_PREFIX + index


def _status(state: IndexState) -> ServingStatus:
    return SERVING if state is IndexState.READY else NOT_SERVING


class HealthReporter:
    """Mirrors the bus into the health service: every index from each snapshot, then each change."""

    def __init__(
        self,
        manager: IndexManager,
        queue_limit: int = SUBSCRIBER_QUEUE_LIMIT,
        loaded: asyncio.Event | None = None,
    ) -> None:
        self.servicer = HealthServicer()
        self._loaded = loaded  # a replica is NOT_SERVING until it has loaded what it serves
        self._updates = manager.bus.subscribe(manager.statuses, HEALTH_SUBSCRIPTION, queue_limit)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = self._loaded is None or self._loaded.is_set()
        for name in ("", *SERVICES):
            self.servicer.set(name, SERVING if ready else NOT_SERVING)
        # The first update is the snapshot, at hand at once: every index is known before start returns.
        first = await anext(self._updates, None)
        if first is not None:
            self._apply(first)
        self._task = asyncio.create_task(self._follow(), name="semsearch-health")

    async def _follow(self) -> None:
        if self._loaded is not None and not self._loaded.is_set():
            waiting = asyncio.create_task(self._serving_once_loaded(self._loaded))
            try:
                await self._apply_all()
            finally:
                waiting.cancel()
            return
        await self._apply_all()

    async def _serving_once_loaded(self, loaded: asyncio.Event) -> None:
        await loaded.wait()
        for name in ("", *SERVICES):
            self.servicer.set(name, SERVING)
        event(log, "health_serving", reason="replica loaded")

    async def _apply_all(self) -> None:
        async for update in self._updates:
            self._apply(update)

    def _apply(self, update: Update) -> None:
        if isinstance(update, Resync):
            if update.lagged:
                event(log, "health_resynchronised", level=logging.WARNING, dropped=update.missed)
            for status in update.statuses:
                self.servicer.set(index_service_name(status.name), _status(status.state))
        else:
            self.servicer.set(index_service_name(update.index), _status(update.state))

    async def shutdown(self) -> None:
        """Everything NOT_SERVING, so load balancers drain before the server stops."""
        self._updates.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.servicer.shut_down()
        event(log, "health_not_serving", services=self.servicer.services)

"""grpc.health.v1.Health over a table of service statuses: Check, Watch and List.

The standard protocol, except that at shutdown every Watch stream ends (OK) once it has reported
NOT_SERVING: otherwise open streams would hold the server's stop for the whole grace period.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ServingStatus: TypeAlias = int  # a HealthCheckResponse.ServingStatus value
SERVING: ServingStatus = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: ServingStatus = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: ServingStatus = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Statuses are set synchronously on the event loop; Watch streams wake on every change."""

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {}
        self._changed = asyncio.Event()  # replaced on every change: waiters hold the one they saw
        self._shut_down = False

    @property
    def services(self) -> int:
        return len(self._statuses)

    def set(self, service: str, status: ServingStatus) -> None:
        """Ignored once shut down: the final NOT_SERVING stays."""
        if self._shut_down or self._statuses.get(service) == status:
            return
        self._statuses[service] = status
        self._notify()

    def shut_down(self) -> None:
        """Every known service NOT_SERVING for good; Watch streams report it and end."""
        if self._shut_down:
            return
        self._shut_down = True
        self._statuses = dict.fromkeys(self._statuses, NOT_SERVING)
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service[:100]!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthListResponse:
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=s) for name, s in self._statuses.items()}
        )

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """The current status at once, then each change (only changes: an equal status is not resent)."""
        sent: ServingStatus | None = None
        while True:
            changed = self._changed  # taken before any await: a change during the write wakes us
            status = self._statuses.get(request.service, SERVICE_UNKNOWN)
            if status != sent:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                sent = status
                continue  # look again: the status may have moved while the write waited
            if self._shut_down:
                return  # the final status is written: nothing will change any more
            await changed.wait()

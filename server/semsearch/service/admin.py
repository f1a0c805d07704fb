"""semsearch.v1.AdminService: index inspection and the state-change stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc
from semsearch.config import ServerConfig
from semsearch.errors import FailedPrecondition, IndexNotFound, InvalidArgument
from semsearch.lifecycle import IndexManager, Migrations
from semsearch.lifecycle.events import EventBus, Resync, Snapshot
from semsearch.logs import event
from semsearch.observability import NO_METRICS, Metrics
from semsearch.search.query import MAX_INDEX_NAMES
from semsearch.service import convert
from semsearch.service.errors import LimitReached, stream_errors, unary_errors
from semsearch.service.replicas import Report, Reports, alone, replica
from semsearch.service.resume import parse_resume_token, resume_token

log = logging.getLogger(__name__)

WATCH_SUBSCRIPTION = "watch"  # the bus subscription kind of a WatchIndexes stream (counted in metrics)
WATCH_RETRY_SECONDS = 5.0  # the retry hint of a stream refused for the limit


@dataclass(frozen=True, slots=True)
class WatchFeed:
    """Where WatchIndexes streams come from: a bus, and the snapshot a new stream starts with."""

    bus: EventBus
    statuses: Snapshot


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        manager: IndexManager,
        metrics: Metrics = NO_METRICS,
        max_watch_streams: int = ServerConfig.max_watch_streams,
        feed: WatchFeed | None = None,
        replicas: Reports | None = None,
    ) -> None:
        self.manager = manager
        self.address = ""  # set once the server is bound: how this server names itself alone
        # Every replica's last report, or this server's own when it runs alone.
        self.replicas = replicas or alone(manager, lambda: self.address)
        # What WatchIndexes streams: this server's own changes, or a shared log's (replicas).
        self.feed = feed or WatchFeed(manager.bus, manager.statuses)
        self.metrics = metrics
        self.max_watch_streams = max_watch_streams

    @unary_errors
    async def ListIndexes(
        self, request: admin_pb2.ListIndexesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.ListIndexesResponse:
        return admin_pb2.ListIndexesResponse(indexes=[convert.index(s) for s in self.manager.statuses()])

    @unary_errors
    async def GetIndex(
        self, request: admin_pb2.GetIndexRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.GetIndexResponse:
        if not request.name:
            raise InvalidArgument("INVALID_INDEX_NAME", "name", "name must not be empty")
        return admin_pb2.GetIndexResponse(index=convert.index(self.manager.status(request.name)))

    @unary_errors
    async def ListReplicas(
        self, request: admin_pb2.ListReplicasRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.ListReplicasResponse:
        reports = await self.replicas()
        answering = str(reports[0]["name"]) if len(reports) == 1 else self._own_name(reports)
        return admin_pb2.ListReplicasResponse(replicas=[replica(r, answering) for r in reports])

    def _own_name(self, reports: list[Report]) -> str:
        own = [r for r in reports if str(r["name"]).endswith("/" + self.address)]
        return str(own[0]["name"]) if own else ""

    @unary_errors
    async def GetEmbeddingSpace(
        self, request: admin_pb2.GetEmbeddingSpaceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.GetEmbeddingSpaceResponse:
        # The one answer with the fingerprint vectors; every other names spaces by their digests.
        response = admin_pb2.GetEmbeddingSpaceResponse()
        if self.manager.provider_space is not None:
            response.provider_space.CopyFrom(convert.space_with_vectors(self.manager.provider_space))
        if self.manager.built_space is not None:
            response.built_space.CopyFrom(convert.space_with_vectors(self.manager.built_space))
        if self.manager.probed_at is not None:
            response.probed_at.CopyFrom(convert.timestamp(self.manager.probed_at))
        if self.manager.migration is not None and self.manager.migration.status is not None:
            response.migration.CopyFrom(convert.migration(self.manager.migration.status, vectors=True))
        return response

    @unary_errors
    async def MigrateModel(
        self, request: admin_pb2.MigrateModelRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.MigrateModelResponse:
        reason = request.reason.strip()[:200] or "requested by an operator"
        status = await self._migrator().start(request.model, reason)
        return admin_pb2.MigrateModelResponse(migration=convert.migration(status))

    @unary_errors
    async def CancelMigration(
        self, request: admin_pb2.CancelMigrationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.CancelMigrationResponse:
        reason = request.reason.strip()[:200] or "requested by an operator"
        status = await self._migrator().cancel(reason)
        return admin_pb2.CancelMigrationResponse(migration=convert.migration(status))

    def _migrator(self) -> Migrations:
        if self.manager.migration is None:
            raise FailedPrecondition("MODEL_CHOSEN_BY_PROVIDER", "this server does not migrate models")
        return self.manager.migration

    @unary_errors
    async def Reindex(
        self, request: admin_pb2.ReindexRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.ReindexResponse:
        if len(request.indexes) > MAX_INDEX_NAMES:
            raise InvalidArgument("INVALID_INDEXES", "indexes", f"at most {MAX_INDEX_NAMES} index names")
        reason = request.reason.strip()[:200] or "requested by an operator"
        statuses = self.manager.request_rebuild(list(dict.fromkeys(request.indexes)), reason)
        return admin_pb2.ReindexResponse(indexes=[convert.index(s) for s in statuses])

    @stream_errors
    async def WatchIndexes(
        self, request: admin_pb2.WatchIndexesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[admin_pb2.WatchIndexesResponse]:
        names = set(request.indexes)
        if len(request.indexes) > MAX_INDEX_NAMES:  # duplicates count, as in Search
            raise InvalidArgument("INVALID_INDEXES", "indexes", f"at most {MAX_INDEX_NAMES} index names")
        for name in names:
            if name not in self.manager.slots:
                raise IndexNotFound(f"no index named {name!r}", index=name)
        watched = names or set(self.manager.slots)
        # Each stream holds a queue of its own: bound them. Checked and subscribed in one step.
        after = self._resume_position(request.resume_token)
        bus = self.feed.bus
        open_streams = bus.subscribers(WATCH_SUBSCRIPTION)
        if open_streams >= self.max_watch_streams:
            raise LimitReached(
                "TOO_MANY_WATCH_STREAMS",
                f"{open_streams} watch streams are open, the most this server allows",
                retry_after=WATCH_RETRY_SECONDS,
                limit=str(self.max_watch_streams),
            )
        # Counted and subscribed in one synchronous step; the subscription starts with the snapshot.
        subscription = bus.subscribe(self.feed.statuses, WATCH_SUBSCRIPTION, after=after)
        watching = ",".join(sorted(names)) or "*"
        event(
            log,
            "watch_opened",
            indexes=watching,
            subscribers=bus.subscribers(WATCH_SUBSCRIPTION),
            resumed=after is not None and subscription.resumed,
        )
        # Headers now: a resumed stream may have nothing to send for a long while, and a client
        # tells "subscribed, nothing new" from "hung" by them.
        await context.send_initial_metadata(())
        sequence = 0
        try:
            with subscription:
                async for update in subscription:
                    if isinstance(update, Resync):
                        if update.lagged:
                            self._resynchronised(watching, update.missed)
                        message = admin_pb2.WatchIndexesResponse(
                            snapshot=admin_pb2.IndexSnapshot(
                                indexes=[convert.index(s) for s in update.statuses if s.name in watched]
                            ),
                            log_sequence=update.sequence,
                        )
                    elif update.index in watched:
                        message = convert.watch_event(update)
                    else:
                        continue
                    sequence += 1
                    message.sequence = sequence  # the stream's own numbering, without gaps
                    message.resume_token = resume_token(bus.log_id, message.log_sequence)
                    yield message
            # The bus closed (server shutdown): the stream ends with OK.
        finally:
            event(
                log,
                "watch_closed",
                indexes=watching,
                messages=sequence,
                subscribers=bus.subscribers(WATCH_SUBSCRIPTION),
            )

    def _resume_position(self, token: str) -> int | None:
        """The position to resume after, or None: a snapshot first (no token, or another log's)."""
        if not token:
            return None
        log_id, position = parse_resume_token(token)
        return position if log_id == self.feed.bus.log_id else None

    def _resynchronised(self, watching: str, missed: int) -> None:
        """The stream fell behind: the events it missed are replaced by a fresh snapshot."""
        event(log, "watch_resynchronised", level=logging.WARNING, indexes=watching, dropped=missed)
        self.metrics.watch_resynchronised()

"""The asyncio client (grpc.aio): searches, index inspection, Reindex and a resubscribing watch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from semsearch_client import requests
from semsearch_client._api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc, types_pb2
from semsearch_client.backoff import Backoff
from semsearch_client.channel import DEFAULT_TIMEOUT, channel_settings, tls_credentials, token_metadata
from semsearch_client.errors import error_from_call
from semsearch_client.retry import RefusalRetry
from semsearch_client.targets import Targets
from semsearch_client.watch import OnRetry, WatchStream

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class AsyncSemsearchClient:
    """Talks to one semsearch server, or to several replicas; use ``async with`` or ``await close()``.

    Give a ``target`` ("host:port", plaintext) or an existing ``channel``; a channel passed in
    belongs to the caller and is left open by ``close()``. Several replicas: a ``target`` of
    comma-separated IP addresses ("10.0.0.1:50051,10.0.0.2:50051") or a list of them; calls go
    round-robin to the replicas whose health service reports SERVING (``balance=False`` turns that
    off; ``balance=True`` turns it on for one target, such as ``dns:///name:port`` resolving to
    every replica; see ``semsearch_client.targets``). ``timeout`` is the default deadline of
    every unary call in seconds (None: no deadline); each method takes its own ``timeout`` too.
    ``retry`` opts in to waiting out refusals that carry RetryInfo (see ``RefusalRetry``); it
    applies to the read-only calls, never to ``reindex``. ``options`` are extra channel options,
    replacing the defaults of the same key (see ``semsearch_client.channel``).

    ``token`` is sent as ``authorization: Bearer <token>`` with every call, watches included (a
    server with a token needs it for Reindex and migrations, and for every call if it says so).
    ``root_certificates`` (PEM bytes) opens a TLS channel trusting them; ``secure=True`` one
    trusting the system's roots. Both apply to a ``target`` only: a caller's channel has its own.
    """

    def __init__(
        self,
        target: Targets | None = None,
        *,
        channel: grpc.aio.Channel | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RefusalRetry | None = None,
        options: Sequence[tuple[str, Any]] = (),
        token: str | None = None,
        root_certificates: bytes | None = None,
        secure: bool = False,
        balance: bool | None = None,
    ) -> None:
        if (target is None) == (channel is None):
            raise ValueError("give either a target or a channel")
        tls = tls_credentials(root_certificates, secure)
        if channel is not None and tls is not None:
            raise ValueError("TLS belongs to the channel: give root_certificates/secure with a target only")
        if channel is not None and balance is not None:
            raise ValueError("balancing belongs to the channel: give balance with a target only")
        self._metadata = token_metadata(token)
        self._owns_channel = channel is None
        if channel is None:
            assert target is not None  # one of the two, checked above
            address, merged = channel_settings(target, balance, options)
            if tls is None:
                channel = grpc.aio.insecure_channel(address, merged)
            else:
                channel = grpc.aio.secure_channel(address, tls, merged)
        self.channel = channel
        self.timeout = timeout
        self.retry = retry
        self._closed = False
        self._search = search_pb2_grpc.SearchServiceStub(self.channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self.channel)

    async def __aenter__(self) -> AsyncSemsearchClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel if the client opened it; open watches end."""
        self._closed = True
        if self._owns_channel:
            await self.channel.close()

    async def search(
        self,
        query: str,
        indexes: str | Iterable[str] = (),
        top_k: int = 0,
        min_score: float | None = None,
        filter: Mapping[str, str] | None = None,
        all_chunks: bool = False,
        timeout: float | None = None,
        mode: str | None = None,
        allow_degraded: bool = False,
    ) -> search_pb2.SearchResponse:
        """Hits best first, the space the query was embedded in, and indexes that could not serve.

        ``indexes`` empty searches every index; ``top_k`` 0 means 10; ``min_score`` None keeps
        every hit (it compares with the dense score, the cosine); ``filter`` keeps hits whose
        metadata field equals the value. ``mode`` is "dense", "lexical" or "hybrid" (None: the
        server's default, hybrid); with ``allow_degraded`` an index that cannot serve dense search
        answers with lexical results, listed in the response's ``degraded_indexes``.
        """
        request = requests.search_request(
            query, indexes, top_k, min_score, filter, all_chunks, mode, allow_degraded
        )
        return await self._unary(self._search.Search, request, timeout)

    async def list_indexes(self, timeout: float | None = None) -> list[types_pb2.Index]:
        """Every configured index with its state, in configuration order."""
        response = await self._unary(self._admin.ListIndexes, admin_pb2.ListIndexesRequest(), timeout)
        return list(response.indexes)

    async def get_index(self, name: str, timeout: float | None = None) -> types_pb2.Index:
        """One index; ``NotFoundError`` when there is none by that name."""
        response = await self._unary(self._admin.GetIndex, admin_pb2.GetIndexRequest(name=name), timeout)
        return response.index

    async def list_replicas(self, timeout: float | None = None) -> list[admin_pb2.Replica]:
        """The live replicas of a deployment on a shared store (a single server lists itself):
        which one holds the indexer lease and which generation of each index each one serves."""
        response = await self._unary(self._admin.ListReplicas, admin_pb2.ListReplicasRequest(), timeout)
        return list(response.replicas)

    async def get_embedding_space(self, timeout: float | None = None) -> admin_pb2.GetEmbeddingSpaceResponse:
        """The provider's space at the last probe, the space the indexes are built in, the probe time."""
        request = admin_pb2.GetEmbeddingSpaceRequest()
        return await self._unary(self._admin.GetEmbeddingSpace, request, timeout)

    async def reindex(
        self, indexes: str | Iterable[str] = (), reason: str = "", timeout: float | None = None
    ) -> list[types_pb2.Index]:
        """Schedule a rebuild (every index when empty); returns the indexes as they were accepted."""
        request = requests.reindex_request(indexes, reason)
        response = await self._unary(self._admin.Reindex, request, timeout, retry=False)
        return list(response.indexes)

    def watch_indexes(
        self,
        indexes: str | Iterable[str] = (),
        *,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        on_retry: OnRetry | None = None,
        fail_fast: bool = False,
        start_timeout: float | None = None,
        resume_token: str = "",
    ) -> WatchStream:
        """Follow index state: a snapshot, then events; resubscribes (with ``backoff``) when the
        stream breaks, continuing after the last message delivered where the server still holds
        the events (the update is then ``resumed``), else from a fresh snapshot (see
        ``WatchUpdate``). ``max_attempts`` bounds failed subscriptions in a row (None: keep trying
        until closed); ``on_retry(attempt, delay, error)`` is called before each wait (error None:
        the server ended the stream, e.g. shutting down).

        ``fail_fast`` raises the first subscription's failure instead of retrying it: nothing
        answering at the start is an error to report, while a break after that is an outage to
        ride out. ``start_timeout`` bounds how long each subscription may take to deliver its first
        message; one that takes longer fails with ``DeadlineExceededError`` and is retried like a
        broken stream (None: no bound). A resumed subscription on a connected channel is exempt:
        it has nothing to send until the next change.

        ``resume_token`` (an update's ``resume_token``, kept from an earlier watch) makes even the
        first subscription continue after that message: its first update is then an event, or a
        snapshot when the server no longer holds what came after it.
        """
        request = requests.watch_request(indexes, resume_token)
        closing = self._is_closed
        return WatchStream(
            self._admin,
            request,
            backoff or Backoff(),
            max_attempts,
            closing,
            on_retry,
            self._metadata,
            fail_fast=fail_fast,
            start_timeout=start_timeout,
            connected=self._is_connected,
        )

    def _is_connected(self) -> bool:
        return self.channel.get_state() == grpc.ChannelConnectivity.READY

    def _is_closed(self) -> bool:
        return self._closed

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float | None,
        *,
        retry: bool = True,
    ) -> Resp:
        deadline = self.timeout if timeout is None else timeout

        async def attempt() -> Resp:
            try:
                return await method(request, timeout=deadline, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                raise error_from_call(exc) from exc

        if retry and self.retry is not None:
            return await self.retry.run_async(attempt)
        return await attempt()

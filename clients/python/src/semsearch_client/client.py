"""The blocking client: the same calls as the asyncio one, without the watch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from semsearch_client import requests
from semsearch_client._api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc, types_pb2
from semsearch_client.channel import DEFAULT_TIMEOUT, channel_settings, tls_credentials, token_metadata
from semsearch_client.errors import error_from_call
from semsearch_client.retry import RefusalRetry
from semsearch_client.targets import Targets

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class SemsearchClient:
    """Talks to one semsearch server, or to several replicas; use ``with`` or ``close()``.

    Arguments as for ``AsyncSemsearchClient``: a ``target`` ("host:port", or several replicas'
    addresses, balanced round-robin over the healthy ones unless ``balance=False``) or a caller-owned
    ``channel``, a default ``timeout``, an opt-in ``retry`` of refusals, extra channel ``options``,
    a bearer ``token``, TLS with ``root_certificates`` (PEM) or ``secure`` (system roots).
    Following index state needs a stream that outlives a restart: use ``AsyncSemsearchClient``'s
    ``watch_indexes``.
    """

    def __init__(
        self,
        target: Targets | None = None,
        *,
        channel: grpc.Channel | None = None,
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
                channel = grpc.insecure_channel(address, merged)
            else:
                channel = grpc.secure_channel(address, tls, merged)
        self.channel = channel
        self.timeout = timeout
        self.retry = retry
        self._search = search_pb2_grpc.SearchServiceStub(self.channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self.channel)

    def __enter__(self) -> SemsearchClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if the client opened it."""
        if self._owns_channel:
            self.channel.close()

    def search(
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
        """See ``AsyncSemsearchClient.search``."""
        request = requests.search_request(
            query, indexes, top_k, min_score, filter, all_chunks, mode, allow_degraded
        )
        return self._unary(self._search.Search, request, timeout)

    def list_indexes(self, timeout: float | None = None) -> list[types_pb2.Index]:
        response = self._unary(self._admin.ListIndexes, admin_pb2.ListIndexesRequest(), timeout)
        return list(response.indexes)

    def get_index(self, name: str, timeout: float | None = None) -> types_pb2.Index:
        return self._unary(self._admin.GetIndex, admin_pb2.GetIndexRequest(name=name), timeout).index

    def list_replicas(self, timeout: float | None = None) -> list[admin_pb2.Replica]:
        """The live replicas of a deployment on a shared store (a single server lists itself)."""
        return list(self._unary(self._admin.ListReplicas, admin_pb2.ListReplicasRequest(), timeout).replicas)

    def get_embedding_space(self, timeout: float | None = None) -> admin_pb2.GetEmbeddingSpaceResponse:
        return self._unary(self._admin.GetEmbeddingSpace, admin_pb2.GetEmbeddingSpaceRequest(), timeout)

    def reindex(
        self, indexes: str | Iterable[str] = (), reason: str = "", timeout: float | None = None
    ) -> list[types_pb2.Index]:
        request = requests.reindex_request(indexes, reason)
        return list(self._unary(self._admin.Reindex, request, timeout, retry=False).indexes)

    def _unary(
        self,
        method: grpc.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float | None,
        *,
        retry: bool = True,
    ) -> Resp:
        deadline = self.timeout if timeout is None else timeout

        def attempt() -> Resp:
            try:
                return method(request, timeout=deadline, metadata=self._metadata)
            except grpc.RpcError as exc:
                if not isinstance(exc, grpc.Call):
                    raise
                raise error_from_call(exc) from exc

        if retry and self.retry is not None:
            return self.retry.run(attempt)
        return attempt()

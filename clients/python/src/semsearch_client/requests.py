"""Request messages built from keyword arguments, the same for the sync and the async client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from semsearch_client._api.v1 import admin_pb2, search_pb2


def index_names(indexes: str | Iterable[str]) -> list[str]:
    """A single name is one index, not a sequence of one-letter names."""
    return [indexes] if isinstance(indexes, str) else list(indexes)


def search_request(
    query: str,
    indexes: str | Iterable[str],
    top_k: int,
    min_score: float | None,
    filter: Mapping[str, str] | None,
    all_chunks: bool,
    mode: str | None = None,
    allow_degraded: bool = False,
) -> search_pb2.SearchRequest:
    request = search_pb2.SearchRequest(
        query=query,
        indexes=index_names(indexes),
        top_k=top_k,
        filter=dict(filter or {}),
        all_chunks=all_chunks,
        # "dense", "lexical" or "hybrid"; None leaves it to the server (hybrid)
        mode=search_pb2.SearchMode.Value(f"SEARCH_MODE_{(mode or 'unspecified').upper()}"),
        allow_degraded=allow_degraded,
    )
    if min_score is not None:  # optional field: unset means "keep every score", not 0.0
        request.min_score = min_score
    return request


def reindex_request(indexes: str | Iterable[str], reason: str) -> admin_pb2.ReindexRequest:
    return admin_pb2.ReindexRequest(indexes=index_names(indexes), reason=reason)


def watch_request(indexes: str | Iterable[str], resume_token: str = "") -> admin_pb2.WatchIndexesRequest:
    return admin_pb2.WatchIndexesRequest(indexes=index_names(indexes), resume_token=resume_token)

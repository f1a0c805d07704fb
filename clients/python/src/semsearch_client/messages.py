"""The contract's message types, as the client returns them (typed by the generated .pyi stubs).

Import them from here, not from the private generated package: ``from semsearch_client.messages
import Index, READY``. Every field is documented in proto/semsearch/v1.
"""

from __future__ import annotations

from semsearch_client._api.v1.admin_pb2 import (
    GetEmbeddingSpaceResponse,
    IndexEvent,
    IndexSnapshot,
    ReindexResponse,
    WatchIndexesResponse,
)
from semsearch_client._api.v1.search_pb2 import SearchHit, SearchResponse, UnavailableIndex
from semsearch_client._api.v1.types_pb2 import EmbeddingSpace, Index, IndexState, RebuildProgress

READY = IndexState.INDEX_STATE_READY
PARKED = IndexState.INDEX_STATE_PARKED
REBUILDING = IndexState.INDEX_STATE_REBUILDING


def state_name(state: IndexState.ValueType) -> str:
    """The state's short name: READY, PARKED or REBUILDING."""
    return IndexState.Name(state).removeprefix("INDEX_STATE_")


__all__ = [
    "PARKED",
    "READY",
    "REBUILDING",
    "EmbeddingSpace",
    "GetEmbeddingSpaceResponse",
    "Index",
    "IndexEvent",
    "IndexSnapshot",
    "IndexState",
    "RebuildProgress",
    "ReindexResponse",
    "SearchHit",
    "SearchResponse",
    "UnavailableIndex",
    "WatchIndexesResponse",
    "state_name",
]

"""The contract's message types, as the client returns them (typed by the generated .pyi stubs).

Import them from here, not from the private generated package: ``from semsearch_client.messages
import Index, READY``. Every field is documented in proto/semsearch/v1.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable

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


def fingerprint_digest(fingerprint: Iterable[float]) -> str:
    """The digest the server sends as ``EmbeddingSpace.fingerprint_digest``, of any fingerprint vector
    (those GetEmbeddingSpace returns): the first 12 hex digits of SHA-256 over one byte per float32
    component, 1 positive, 2 negative, 0 zero. Empty for an empty vector."""
    values = array("f", fingerprint)
    if not values:
        return ""
    signs = bytes(1 if x > 0 else 2 if x < 0 else 0 for x in values)
    return hashlib.sha256(signs).hexdigest()[:12]


def space_identity(space: EmbeddingSpace) -> tuple[str, int, str, str]:
    """What names a space: (model, dimensions, fingerprint digest, query fingerprint digest). Equal
    tuples, same space. A server older than the digests sent the vectors instead: they are digested here."""
    return (
        space.model,
        space.dimensions,
        space.fingerprint_digest or fingerprint_digest(space.fingerprint),
        space.query_fingerprint_digest or fingerprint_digest(space.query_fingerprint),
    )


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
    "fingerprint_digest",
    "space_identity",
    "state_name",
]

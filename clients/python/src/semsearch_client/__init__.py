"""Typed Python client for semsearch, the gRPC semantic-search service.

    from semsearch_client import SemsearchClient

    with SemsearchClient("127.0.0.1:50051") as client:
        for hit in client.search("how do I swap the embedding model safely", top_k=3).hits:
            print(f"{hit.score:.3f} {hit.title}")

Calls return the contract's protobuf messages (``semsearch_client.messages``) and raise
``SemsearchError`` subclasses (``semsearch_client.errors``). ``AsyncSemsearchClient`` adds
``watch_indexes()``, which follows index state across server restarts.
"""

from semsearch_client.aio import AsyncSemsearchClient
from semsearch_client.backoff import Backoff
from semsearch_client.channel import load_root_certificates
from semsearch_client.client import SemsearchClient
from semsearch_client.errors import (
    DeadlineExceededError,
    EmbeddingSpaceChangedError,
    FieldViolation,
    IndexNotReadyError,
    IndexUnavailableError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProviderUnavailableError,
    SemsearchError,
    UnauthenticatedError,
    UnavailableError,
    UnreachableError,
)
from semsearch_client.retry import RefusalRetry
from semsearch_client.version import __version__
from semsearch_client.watch import WatchStream, WatchUpdate

__all__ = [
    "AsyncSemsearchClient",
    "Backoff",
    "DeadlineExceededError",
    "EmbeddingSpaceChangedError",
    "FieldViolation",
    "IndexNotReadyError",
    "IndexUnavailableError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderUnavailableError",
    "RefusalRetry",
    "SemsearchClient",
    "SemsearchError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnreachableError",
    "WatchStream",
    "WatchUpdate",
    "__version__",
    "load_root_certificates",
]

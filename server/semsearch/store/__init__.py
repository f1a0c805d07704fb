"""Where generations and embedding vectors are kept: the protocol (``GenerationStore``) and its
implementations. ``LocalStore`` (process memory + the SQLite embedding cache) is the default."""

from semsearch.store.local import LocalStore
from semsearch.store.protocol import (
    GenerationNotFound,
    GenerationRecord,
    GenerationStore,
    StoredGeneration,
    VectorCache,
)

__all__ = [
    "GenerationNotFound",
    "GenerationRecord",
    "GenerationStore",
    "LocalStore",
    "StoredGeneration",
    "VectorCache",
]

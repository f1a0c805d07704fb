"""Where generations and embedding vectors are kept: the protocol (``GenerationStore``) and its
implementations. ``LocalStore`` (process memory + the SQLite embedding cache) is the default;
``semsearch.store.postgres.PostgresStore`` is shared by several replicas. ``open_store`` opens the
one the configuration asks for (the PostgreSQL modules load only then)."""

from semsearch.store.local import LocalStore
from semsearch.store.opening import open_store
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
    "open_store",
]

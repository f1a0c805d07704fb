"""Embedding provider client and embedding-space identity."""

from semsearch.embeddings.cache import EmbeddingCache
from semsearch.embeddings.client import EmbeddingProvider, Embeddings
from semsearch.embeddings.errors import ProviderError, ProviderResponseError, ProviderUnavailable, SpaceMoved
from semsearch.embeddings.query_cache import QueryCache
from semsearch.embeddings.space import PROBE_TEXT, EmbeddingSpace, probe_space

__all__ = [
    "PROBE_TEXT",
    "EmbeddingCache",
    "EmbeddingProvider",
    "EmbeddingSpace",
    "Embeddings",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailable",
    "QueryCache",
    "SpaceMoved",
    "probe_space",
]

"""Embedding provider client and embedding-space identity."""

from semsearch.embeddings.client import EmbeddingProvider, Embeddings
from semsearch.embeddings.errors import ProviderError, ProviderResponseError, ProviderUnavailable
from semsearch.embeddings.space import PROBE_TEXT, EmbeddingSpace, probe_space

__all__ = [
    "PROBE_TEXT",
    "EmbeddingProvider",
    "EmbeddingSpace",
    "Embeddings",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailable",
    "probe_space",
]

"""Immutable vector index with exact top-k, alone or many queries at once."""

from semsearch.index.batch import SearchSpec, search_many
from semsearch.index.coalescer import SearchCoalescer
from semsearch.index.scored import ScoredChunk
from semsearch.index.vector import VectorIndex

__all__ = ["ScoredChunk", "SearchCoalescer", "SearchSpec", "VectorIndex", "search_many"]

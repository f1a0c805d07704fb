"""Immutable vector index with exact top-k."""

from semsearch.index.vector import ScoredChunk, VectorIndex

__all__ = ["ScoredChunk", "VectorIndex"]

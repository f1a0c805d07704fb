"""The data structures searched: the immutable vector index (exact top-k, alone or many queries at
once, coalesced), the lexical index (BM25) with its identifier table, and metadata postings.

What a query gets from them (validation, fusion, pinning, the searcher) is ``semsearch.search``."""

from semsearch.index.batch import SearchSpec, search_many
from semsearch.index.coalescer import SearchCoalescer
from semsearch.index.scored import ScoredChunk
from semsearch.index.vector import VectorIndex

__all__ = ["ScoredChunk", "SearchCoalescer", "SearchSpec", "VectorIndex", "search_many"]

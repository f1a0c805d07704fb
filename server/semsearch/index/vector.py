"""An immutable float32 matrix of chunk vectors with exact top-k by dot product.

Immutable so that a swap is one reference assignment and a search that already holds a reference
finishes on the index it started with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from semsearch.corpus import Chunk
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.index.batch import SearchSpec, search_many
from semsearch.index.postings import MetadataPostings
from semsearch.index.scored import ScoredChunk

# Norms are computed in float32: a little headroom keeps the rounding bound an upper bound.
_NORM_HEADROOM = 1.001


class VectorIndex:
    def __init__(self, chunks: Sequence[Chunk], matrix: np.ndarray, space: EmbeddingSpace) -> None:
        if matrix.ndim != 2 or matrix.shape != (len(chunks), space.dimensions):
            raise ValueError(
                f"matrix shape {matrix.shape} does not fit {len(chunks)} chunks × {space.dimensions}"
            )
        self.chunks = tuple(chunks)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.matrix.setflags(write=False)
        self.space = space
        self.document_ids = np.array([c.document_id for c in self.chunks], dtype=object)
        # The longest row bounds every score's rounding error (see index.topk).
        squares = np.einsum("ij,ij->i", self.matrix, self.matrix) if len(self.chunks) else np.zeros(1)
        self.max_row_norm = math.sqrt(float(squares.max())) * _NORM_HEADROOM
        self.postings = MetadataPostings(self.chunks)  # a filter costs lookups, not a scan

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def document_count(self) -> int:
        return len(set(self.document_ids.tolist()))

    def filter_rows(self, metadata_filter: Mapping[str, str]) -> np.ndarray | None:
        """Row numbers passing the filter (ascending), or None when there is no filter."""
        return self.postings.rows(metadata_filter)

    def check_query(self, query: np.ndarray) -> None:
        if query.shape != (self.space.dimensions,):
            raise ValueError(f"query has shape {query.shape}, index expects ({self.space.dimensions},)")

    def search(
        self,
        query: np.ndarray,
        top_k: int,
        min_score: float = -np.inf,
        metadata_filter: Mapping[str, str] | None = None,
        collapse: bool = True,
    ) -> list[ScoredChunk]:
        """Exact top-k by dot product; with ``collapse`` only each document's best chunk counts.

        The same hits, scores and order as the query gets inside any batch (``search_many``).
        """
        return search_many(self, [SearchSpec.of(query, top_k, min_score, metadata_filter, collapse)])[0]

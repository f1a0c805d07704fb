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
from semsearch.index.scored import ScoredChunk

# Norms are computed in float32: a little headroom keeps the rounding bound an upper bound.
_NORM_HEADROOM = 1.001


def _metadata_values(value: str) -> set[str]:
    """A filter matches the whole value or one item of a comma-joined list (tags: "a, b")."""
    return {value, *(item.strip() for item in value.split(",") if item.strip())}


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
        # Inverted metadata postings so a filter costs set lookups, not a scan of every chunk.
        postings: dict[tuple[str, str], list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            for key, value in chunk.metadata.items():
                for item in _metadata_values(value):
                    postings.setdefault((key, item), []).append(row)
        self._postings = {k: np.asarray(v, dtype=np.int64) for k, v in postings.items()}

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def document_count(self) -> int:
        return len(set(self.document_ids.tolist()))

    def filter_rows(self, metadata_filter: Mapping[str, str]) -> np.ndarray | None:
        """Row numbers passing the filter (ascending), or None when there is no filter."""
        rows: np.ndarray | None = None
        for key, value in metadata_filter.items():
            hit = self._postings.get((key, value), np.empty(0, dtype=np.int64))
            rows = hit if rows is None else np.intersect1d(rows, hit, assume_unique=True)
        return rows

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

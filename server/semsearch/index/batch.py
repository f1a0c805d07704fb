"""Many searches on one index, scored with one matrix product.

The product reads the index matrix once for the whole batch instead of once per query; each query
then takes its exact top-k from its own row of scores (see ``topk``), so its hits are the same as
when it is searched alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from semsearch.corpus import Chunk
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.index.product import RowSplitProduct
from semsearch.index.scored import ScoredChunk
from semsearch.index.topk import exact_top, rounding_bound

ONE_THREAD = RowSplitProduct(threads=1)
# A filter keeping fewer rows than this share scores its own rows alone: cheaper than a whole row.
SMALL_FILTER_SHARE = 0.25


class Rows(Protocol):
    """What a batch search reads of an index (``VectorIndex`` is the one that searches through here)."""

    chunks: tuple[Chunk, ...]
    matrix: np.ndarray
    space: EmbeddingSpace
    document_ids: np.ndarray
    max_row_norm: float

    def __len__(self) -> int: ...

    def check_query(self, query: np.ndarray) -> None: ...

    def filter_rows(self, metadata_filter: Mapping[str, str]) -> np.ndarray | None: ...


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """One search on one index: a query vector and what to keep of its ranking."""

    vector: np.ndarray  # float32, shape (dimensions,)
    top_k: int
    min_score: float = -math.inf
    metadata_filter: Mapping[str, str] = field(default_factory=dict)
    collapse: bool = True  # only each document's best chunk is a hit

    @classmethod
    def of(
        cls,
        vector: np.ndarray,
        top_k: int,
        min_score: float = -math.inf,
        metadata_filter: Mapping[str, str] | None = None,
        collapse: bool = True,
    ) -> SearchSpec:
        return cls(
            np.asarray(vector, dtype=np.float32), top_k, min_score, dict(metadata_filter or {}), collapse
        )


def search_many(
    index: Rows, specs: Sequence[SearchSpec], product: RowSplitProduct | None = None
) -> list[list[ScoredChunk]]:
    """Every spec's hits, in order; the same as searching each alone (a ValueError names a bad query).

    ``product`` computes the shared matrix product (on several threads); by default, this one."""
    for spec in specs:
        index.check_query(spec.vector)
    rows = [index.filter_rows(spec.metadata_filter) for spec in specs]
    n = len(index)
    # Queries that need (nearly) every row's score share one product; small filters score alone.
    shared = [j for j, r in enumerate(rows) if r is None or len(r) >= SMALL_FILTER_SHARE * n]
    fast_rows: dict[int, np.ndarray] = {}
    if shared:
        queries = np.stack([specs[j].vector for j in shared])
        scores = (product or ONE_THREAD).scores(queries, index.matrix)
        fast_rows = dict(zip(shared, scores, strict=True))
    results = []
    for j, spec in enumerate(specs):
        subset = rows[j]
        if j in fast_rows:
            fast = fast_rows[j] if subset is None else fast_rows[j][subset]
        else:
            assert subset is not None
            fast = index.matrix[subset] @ spec.vector
        results.append(_hits(index, spec, fast, subset))
    return results


def _hits(index: Rows, spec: SearchSpec, fast: np.ndarray, subset: np.ndarray | None) -> list[ScoredChunk]:
    query_norm = float(np.linalg.norm(spec.vector.astype(np.float64)))
    bound = rounding_bound(index.space.dimensions, index.max_row_norm, query_norm)
    found, scores = exact_top(
        index.matrix,
        fast,
        subset,
        spec.vector,
        bound,
        spec.top_k,
        spec.min_score,
        index.document_ids if spec.collapse else None,
    )
    chunks = index.chunks
    return [
        ScoredChunk(chunks[row], score) for row, score in zip(found.tolist(), scores.tolist(), strict=True)
    ]

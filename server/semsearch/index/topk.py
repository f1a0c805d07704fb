"""Exact top-k from fast BLAS scores: a certified candidate window, then one fixed re-scoring.

A BLAS product sums each dot product in an order that depends on the shape of the call (GEMV for
one query, GEMM blocked differently for 8 or 32 queries), so the same query scores a few ulps apart
in two batches. Ranking on those scores would make a query's hits depend on who it was batched
with. So the fast scores only choose candidates, with a margin wider than any rounding difference
(a rigorous bound, see ``rounding_bound``), and every candidate is re-scored by one fixed function
of (row, query): the hits are a function of those canonical scores alone, whatever the batch.
"""

from __future__ import annotations

import math

import numpy as np

UNIT_ROUNDOFF = 2.0**-24  # float32
# Each side's error is within g_d * |m| * |q| of the exact product; doubled again for headroom.
SAFETY = 2.0
# Block maxima per wanted hit: enough blocks that the floor sits close to the want-th score.
BLOCKS_PER_WANT = 8
MIN_BLOCK = 16  # smaller blocks: partitioning the scores themselves is as cheap
# With collapsing, the first window holds this many chunks per wanted document.
COLLAPSE_WINDOW = 8
WIDEN = 4  # a window too crowded by a few documents grows by this factor


def rounding_bound(dimensions: int, max_row_norm: float, query_norm: float) -> float:
    """An upper bound on |fast score - canonical score| for any row of the index.

    Any float32 dot product of length d, summed in any order, is within g_d * sum|m_i * q_i| <=
    g_d * |m| * |q| of the exact value (g_d = d*u / (1 - d*u), u the unit roundoff); two such
    products differ by at most twice that.
    """
    nu = dimensions * UNIT_ROUNDOFF
    bound = SAFETY * 2 * nu / (1 - nu) * max_row_norm * query_norm
    return bound if math.isfinite(bound) else math.inf


def canonical_scores(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The scores every path reports: float32 products summed by numpy's pairwise reduction along
    each row, a fixed function of (row, query) however many rows are re-scored together."""
    scores: np.ndarray = np.add.reduce(matrix[rows] * query, axis=1)
    return scores


def window_floor(scores: np.ndarray, want: int) -> float:
    """A value no greater than the ``want``-th largest score; -inf when there are at most ``want``.

    The ``want``-th largest of the block maxima is such a value (``want`` distinct scores reach it)
    and costs one pass plus a partition of a few hundred maxima, not a partition of every score.
    """
    n = len(scores)
    if want >= n:
        return -math.inf
    blocks = want * BLOCKS_PER_WANT
    size = n // blocks
    if size >= MIN_BLOCK:
        maxima = scores[: blocks * size].reshape(blocks, size).max(axis=1)
        return float(np.partition(maxima, blocks - want)[blocks - want])
    return float(np.partition(scores, n - want)[n - want])


def exact_top(
    matrix: np.ndarray,
    fast: np.ndarray,
    rows: np.ndarray | None,
    query: np.ndarray,
    bound: float,
    top_k: int,
    min_score: float,
    documents: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and canonical scores of the hits, best first (ties: lower row first).

    ``fast`` holds approximate scores of ``rows`` (of every row when None). Without ``documents``:
    the ``top_k`` best rows scoring at least ``min_score``. With ``documents`` (a document id per
    row): walking that ranking, each document's first row, until ``top_k`` documents.
    """
    empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if top_k <= 0:
        return empty
    want = top_k if documents is None else top_k * COLLAPSE_WINDOW
    while True:
        floor = window_floor(fast, want)
        # Rows outside the window score below every one of the `want` best, whatever the rounding.
        threshold = _float32_at_most(max(floor - 2 * bound, float(np.float32(min_score)) - bound))
        positions = np.flatnonzero(fast >= threshold)
        candidates = positions if rows is None else rows[positions]
        scores = canonical_scores(matrix, candidates, query)
        keep = scores >= min_score
        candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))
        candidates, scores = candidates[order], scores[order]
        # Only the first `want` of the ranked window are certainly the global ranking's first, unless
        # the window held every row that can pass (no floor, or fewer than `want` survivors).
        complete = floor == -math.inf or len(candidates) < want
        if not complete:
            candidates, scores = candidates[:want], scores[:want]
        if documents is None:
            return candidates[:top_k], scores[:top_k]
        picked = first_per_document(documents, candidates, top_k)
        if len(picked) == top_k or complete:
            return candidates[picked], scores[picked]
        want *= WIDEN


def _float32_at_most(value: float) -> np.float32:
    """``value`` as a float32 no greater than it (comparisons with float32 scores round otherwise)."""
    rounded = np.float32(value)
    if rounded > value:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return rounded


def first_per_document(documents: np.ndarray, ranked_rows: np.ndarray, top_k: int) -> list[int]:
    """Positions in ``ranked_rows`` of each document's first row, at most ``top_k`` of them."""
    seen: set[object] = set()
    picked: list[int] = []
    for position, document in enumerate(documents[ranked_rows].tolist()):
        if document not in seen:
            seen.add(document)
            picked.append(position)
            if len(picked) == top_k:
                break
    return picked

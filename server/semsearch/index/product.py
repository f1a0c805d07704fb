"""The scores of a batch of queries against an index matrix, split by rows across threads.

BLAS can parallelise a product by itself, but its threads keep spinning between products and take
the cores the event loop and gRPC need to receive queries and send answers. So semsearch runs BLAS
single-threaded (``single_threaded_blas``) and splits a large product into row blocks of the
matrix instead, one per thread, each a view (the matrix is never copied). Which thread summed a
score does not matter: scores from here only choose candidates, with a margin for rounding, and
the hits are re-scored by one fixed function (see ``topk``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

MAX_THREADS = 8
# Below this many multiply-adds (8 MB of a 384-wide matrix) a product takes a few tenths of a
# millisecond on one thread: handing half of it to another thread costs about as much as it saves.
MIN_BLOCK_WORK = 2_000_000
# Each thread computes its rows this many at a time, as (rows × d) @ (d × queries): with a few
# queries OpenBLAS runs that shape up to twice as fast as (queries × d) @ (d × rows), and a tile's
# scores (1 MB at 32 queries) are turned into the output's layout while still in cache.
TILE_ROWS = 8192


def available_cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    return max(1, min(MAX_THREADS, available_cores()))


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread per call while inside (the previous limits come back on exit)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class RowSplitProduct:
    """``queries @ matrix.T`` on up to ``threads`` threads: the caller's own and a small pool."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = default_threads() if threads is None else threads
        if self.threads < 1:
            raise ValueError("threads must be >= 1")
        self._pool = (
            ThreadPoolExecutor(self.threads - 1, thread_name_prefix="semsearch-product")
            if self.threads > 1
            else None
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def scores(self, queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """float32 scores, shape (queries, rows of matrix); ``queries`` is (k, d), ``matrix`` (n, d)."""
        n = matrix.shape[0]
        parts = min(self.threads, max(1, queries.shape[0] * n * matrix.shape[1] // MIN_BLOCK_WORK))
        out = np.empty((queries.shape[0], n), dtype=np.result_type(queries, matrix))
        transposed = np.ascontiguousarray(queries.T)  # (d, queries): a few KB
        if parts == 1 or self._pool is None:
            _block(transposed, matrix, out, 0, n)
            return out
        bounds = np.linspace(0, n, parts + 1).astype(int).tolist()
        blocks = list(itertools.pairwise(bounds))
        pending = [self._pool.submit(_block, transposed, matrix, out, a, b) for a, b in blocks[1:]]
        _block(transposed, matrix, out, *blocks[0])
        for future in pending:
            future.result()
        return out


def _block(transposed: np.ndarray, matrix: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    """Scores of rows start:stop, a tile of TILE_ROWS rows at a time (views of the matrix, no copy)."""
    if transposed.shape[1] == 1:  # one query: a matrix-vector product, already in the output's layout
        np.matmul(matrix[start:stop], transposed[:, 0], out=out[0, start:stop])
        return
    tile = np.empty((min(TILE_ROWS, stop - start), transposed.shape[1]), dtype=out.dtype)
    for first in range(start, stop, TILE_ROWS):
        last = min(stop, first + TILE_ROWS)
        scores = np.matmul(matrix[first:last], transposed, out=tile[: last - first])
        out[:, first:last] = scores.T

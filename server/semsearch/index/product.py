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
        if parts == 1 or self._pool is None:
            product: np.ndarray = queries @ matrix.T  # a transposed view: no copy of the matrix
            return product
        out = np.empty((queries.shape[0], n), dtype=np.result_type(queries, matrix))
        bounds = np.linspace(0, n, parts + 1).astype(int).tolist()
        blocks = list(itertools.pairwise(bounds))
        pending = [self._pool.submit(_block, queries, matrix, out, a, b) for a, b in blocks[1:]]
        _block(queries, matrix, out, *blocks[0])
        for future in pending:
            future.result()
        return out


def _block(queries: np.ndarray, matrix: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    out[:, start:stop] = queries @ matrix[start:stop].T

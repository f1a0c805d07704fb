"""In-process baselines on the same matrix and query vectors as the served index: no gRPC at all.

- numpy exact top-k, one query at a time (a GEMV, then argpartition and a sort of k);
- semsearch's own ``VectorIndex.search`` one at a time, and ``search_many`` in batches of 32 (as
  the server runs it: BLAS on one thread, the product split by rows);
- the matrix product of a batch of 32 alone, no top-k: the arithmetic any exact search must do;
- faiss-cpu ``IndexFlatIP`` (exact inner product), one query at a time and every query as one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from semsearch.index import SearchSpec, VectorIndex, search_many
from semsearch.index.product import RowSplitProduct, single_threaded_blas

BATCH = 32
PRODUCT_ALONE = "matrix product alone (`Q @ M.T`, BLAS on every core, no top-k)"
MIN_SECONDS = 1.0  # each one-at-a-time baseline repeats its queries for at least this long


@dataclass(frozen=True)
class Baseline:
    name: str
    qps: float
    p50_ms: float | None  # per query; None for batched runs, where a query has no latency of its own
    p99_ms: float | None = None


def _one_at_a_time(name: str, queries: np.ndarray, search: Callable[[np.ndarray], object]) -> Baseline:
    search(queries[0])  # first-call costs (thread pools, page faults) stay out of the figures
    latencies: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < MIN_SECONDS or len(latencies) < len(queries):
        query = queries[len(latencies) % len(queries)]
        began = time.perf_counter()
        search(query)
        latencies.append(time.perf_counter() - began)
    ms = np.asarray(latencies) * 1000
    return Baseline(
        name, len(latencies) / float(np.sum(latencies)), float(np.median(ms)), float(np.percentile(ms, 99))
    )


def _batched(name: str, count: int, run: Callable[[], object]) -> Baseline:
    run()
    best = min(_timed(run) for _ in range(2))
    return Baseline(name, count / best, None)


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def numpy_top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ query
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def batched_qps(index: VectorIndex, queries: np.ndarray, k: int, batch: int = BATCH) -> tuple[float, float]:
    """QPS of ``search_many`` in batches of ``batch``, run as the server runs it (BLAS on one thread,
    the rows split by semsearch across every core), and the CPU-ms it spent per search (this
    process's CPU time: on a shared machine, what the search itself costs whatever it was given)."""
    specs = [SearchSpec.of(q, k, collapse=False) for q in queries]
    product = RowSplitProduct()
    try:
        with single_threaded_blas():
            cpu = time.process_time()
            found = _batched(
                "",
                len(specs),
                lambda: [
                    search_many(index, specs[i : i + batch], product) for i in range(0, len(specs), batch)
                ],
            )
            runs = 3  # _batched runs it once to warm up, then twice timed
            return found.qps, 1000 * (time.process_time() - cpu) / (runs * len(specs))
    finally:
        product.close()


def measure(index: VectorIndex, queries: np.ndarray, k: int) -> list[Baseline]:
    matrix = index.matrix
    results = [
        _one_at_a_time(
            "numpy exact top-k, one query at a time", queries, lambda q: numpy_top_k(matrix, q, k)
        ),
        _one_at_a_time(
            "semsearch `VectorIndex.search`, one at a time",
            queries,
            lambda q: index.search(q, k, collapse=False),
        ),
    ]
    results.append(
        Baseline(f"semsearch `search_many`, batches of {BATCH}", batched_qps(index, queries, k)[0], None)
    )
    # The arithmetic alone, no top-k at all: what any exact search can reach on this machine.
    results.append(
        _batched(
            f"{PRODUCT_ALONE}, batches of {BATCH}",
            len(queries),
            lambda: [queries[i : i + BATCH] @ matrix.T for i in range(0, len(queries), BATCH)],
        )
    )
    try:
        import faiss
    except ImportError:
        return results
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(matrix)
    results.append(
        _one_at_a_time(
            "faiss `IndexFlatIP`, one query at a time", queries, lambda q: flat.search(q[None, :], k)
        )
    )
    results.append(
        _batched(
            f"faiss `IndexFlatIP`, all {len(queries)} queries as one batch",
            len(queries),
            lambda: flat.search(queries, k),
        )
    )
    return results


def faiss_version() -> str | None:
    try:
        import faiss
    except ImportError:
        return None
    return str(faiss.__version__)

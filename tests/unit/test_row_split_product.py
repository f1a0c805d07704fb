"""The matrix product split by rows across threads: the same scores, BLAS on one thread meanwhile."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from semsearch.index.product import MIN_BLOCK_WORK, RowSplitProduct, single_threaded_blas


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("queries", [1, 5, 32])
def test_split_scores_match_one_product(threads: int, queries: int) -> None:
    rng = np.random.default_rng(threads * 100 + queries)
    matrix = rng.normal(size=(20_011, 64)).astype(np.float32)  # rows not divisible by any split
    batch = rng.normal(size=(queries, 64)).astype(np.float32)
    product = RowSplitProduct(threads)
    try:
        scores = product.scores(batch, matrix)
    finally:
        product.close()
    assert scores.shape == (queries, 20_011) and scores.dtype == np.float32
    # Summed in other orders by other calls: equal up to float32 rounding, never further.
    np.testing.assert_allclose(scores, batch @ matrix.T, rtol=0, atol=1e-4)


def test_small_products_are_not_split() -> None:
    product = RowSplitProduct(4)
    matrix = np.ones((10, 8), dtype=np.float32)
    assert MIN_BLOCK_WORK > 10 * 8
    np.testing.assert_array_equal(product.scores(np.ones((1, 8), dtype=np.float32), matrix), [[8.0] * 10])
    assert product._pool is not None and not product._pool._threads  # no thread was ever started
    product.close()


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        RowSplitProduct(0)


def test_blas_is_single_threaded_inside_and_restored_after() -> None:
    before = blas_threads()
    with single_threaded_blas():
        assert blas_threads() == {1}
    assert blas_threads() == before

"""Coalesced exact search: batched hits are the one-at-a-time hits, bit for bit, and exact.

BLAS sums a dot product in another order for one query (GEMV) than for 8 or 32 (GEMM), so these
tests compare scores with ``==``, never approximately: a batch must not change a single bit.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import threading
import weakref
from collections.abc import Awaitable, Sequence

import numpy as np
import pytest

from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingSpace
from semsearch.index import ScoredChunk, SearchCoalescer, SearchSpec, VectorIndex, search_many
from semsearch.index.product import RowSplitProduct
from semsearch.index.topk import canonical_scores

DIMS = 96
SPACE = EmbeddingSpace("test", DIMS)
TEAMS = ("db", "net", "ops")
TAGS = ("disk", "fees", "gas", "sync")


def make_index(rows: int, seed: int, chunks_per_doc: int = 5) -> VectorIndex:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, DIMS)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    # Exact duplicates (ties) and near-copies of one document's chunks (crowding under collapse).
    matrix[rows // 2 : rows // 2 + 40] = matrix[7]
    matrix[100:160] = matrix[100] + 0.01 * rng.normal(size=(60, DIMS)).astype(np.float32)
    chunks = []
    for row in range(rows):
        doc = f"d{row // chunks_per_doc}" if not 100 <= row < 160 else "crowd"
        metadata = {"team": TEAMS[row % 3], "tags": f"{TAGS[row % 4]}, {TAGS[row % 7 % 4]}"}
        chunks.append(
            Chunk(f"{doc}#{row}", doc, doc, "", f"text {row}", f"text {row}", f"{doc}.md", metadata)
        )
    return VectorIndex(chunks, matrix, SPACE)


def random_specs(index: VectorIndex, count: int, seed: int) -> list[SearchSpec]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    specs = []
    for i in range(count):
        if i % 5 == 0:  # a stored vector: ties with its duplicates, or a crowded document
            vector = index.matrix[pick.choice([7, 100, 130, 3]) % len(index)].copy()
        else:
            vector = rng.normal(size=DIMS).astype(np.float32)
            vector /= np.linalg.norm(vector)
        metadata_filter = pick.choice(
            [{}, {}, {"team": "db"}, {"tags": "gas"}, {"team": "net", "tags": "disk"}]
        )
        specs.append(
            SearchSpec.of(
                vector,
                top_k=pick.choice([1, 3, 10, 10, 25, 100]),
                min_score=pick.choice([-math.inf, -1.0, 0.0, 0.1, 0.3]),
                metadata_filter=metadata_filter,
                collapse=pick.random() < 0.6,
            )
        )
    return specs


def brute_force(index: VectorIndex, spec: SearchSpec) -> list[ScoredChunk]:
    """Every row scored canonically, sorted by (score desc, row), filtered, collapsed: the definition."""
    rows = index.filter_rows(spec.metadata_filter)
    rows = np.arange(len(index)) if rows is None else rows
    scores = canonical_scores(index.matrix, rows, spec.vector)
    ranked = sorted(
        ((float(s), int(r)) for r, s in zip(rows, scores, strict=True) if s >= spec.min_score),
        key=lambda pair: (-pair[0], pair[1]),
    )
    hits: list[ScoredChunk] = []
    seen: set[str] = set()
    for score, row in ranked:
        chunk = index.chunks[row]
        if spec.collapse:
            if chunk.document_id in seen:
                continue
            seen.add(chunk.document_id)
        hits.append(ScoredChunk(chunk, score))
        if len(hits) == spec.top_k:
            break
    return hits


def one_at_a_time(index: VectorIndex, specs: Sequence[SearchSpec]) -> list[list[ScoredChunk]]:
    return [index.search(s.vector, s.top_k, s.min_score, s.metadata_filter, s.collapse) for s in specs]


@pytest.fixture(scope="module")
def index() -> VectorIndex:
    # Large enough that the window floor comes from block maxima, not a partition of every score.
    return make_index(12_000, seed=1)


@pytest.fixture(scope="module")
def specs(index: VectorIndex) -> list[SearchSpec]:
    return random_specs(index, 240, seed=2)


@pytest.fixture(scope="module")
def alone(index: VectorIndex, specs: list[SearchSpec]) -> list[list[ScoredChunk]]:
    return one_at_a_time(index, specs)


def test_one_at_a_time_is_the_exact_ranking(index: VectorIndex, specs: list[SearchSpec], alone) -> None:
    assert any(len(hits) > 1 for hits in alone)
    for spec, hits in zip(specs, alone, strict=True):
        assert hits == brute_force(index, spec)


@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "split-in-3"])
@pytest.mark.parametrize("batch_size", [2, 7, 32, 64])
def test_batches_of_any_size_give_identical_hits_scores_and_order(
    index: VectorIndex,
    specs: list[SearchSpec],
    alone: list[list[ScoredChunk]],
    batch_size: int,
    threads: int,
) -> None:
    order = list(range(len(specs)))
    random.Random(batch_size).shuffle(order)  # other neighbours in every batch
    product = RowSplitProduct(threads)  # row blocks summed by other threads: still the same hits
    batched: dict[int, list[ScoredChunk]] = {}
    for start in range(0, len(order), batch_size):
        part = order[start : start + batch_size]
        for j, hits in zip(part, search_many(index, [specs[j] for j in part], product), strict=True):
            batched[j] = hits
    product.close()
    for j, expected in enumerate(alone):
        assert batched[j] == expected, f"query {j} changed in a batch of {batch_size}"


def test_the_raw_products_do_differ_so_the_test_above_can_fail(index: VectorIndex) -> None:
    """Guards the premise: were GEMV and GEMM bit-identical here, the comparisons above would be weak."""
    rng = np.random.default_rng(3)
    queries = rng.normal(size=(32, DIMS)).astype(np.float32)
    one = np.stack([index.matrix @ q for q in queries])
    if np.array_equal(one, queries @ index.matrix.T):
        pytest.skip("this BLAS sums GEMV and GEMM in the same order: nothing to reconcile here")


def test_ties_rank_by_row_and_duplicates_tie_exactly(index: VectorIndex) -> None:
    spec = SearchSpec.of(index.matrix[7], top_k=50, collapse=False)
    for hits in (index.search(spec.vector, 50, collapse=False), search_many(index, [spec, spec])[1]):
        duplicates = [
            h for h in hits if np.array_equal(index.matrix[int(h.chunk.id.split("#")[1])], index.matrix[7])
        ]
        assert len(duplicates) == 41  # row 7 and its 40 copies
        assert len({h.score for h in duplicates}) == 1
        rows = [int(h.chunk.id.split("#")[1]) for h in duplicates]
        assert rows == sorted(rows)


def test_collapse_widens_past_a_crowding_document(index: VectorIndex) -> None:
    spec = SearchSpec.of(index.matrix[130], top_k=20, collapse=True)
    hits = search_many(index, [spec])[0]
    assert hits[0].chunk.document_id == "crowd"
    assert len({h.chunk.document_id for h in hits}) == 20  # 60 crowd chunks lead: the window grew
    assert hits == brute_force(index, spec)


def test_small_indexes_and_edge_cases_match_the_definition() -> None:
    for rows in (0, 1, 9, 300):
        small = make_index(rows, seed=rows, chunks_per_doc=3) if rows >= 200 else _tiny(rows)
        for spec in random_specs(small, 30, seed=rows) if rows else [SearchSpec.of(np.ones(DIMS), 5)]:
            assert search_many(small, [spec, spec])[0] == brute_force(small, spec)
            assert small.search(
                spec.vector, spec.top_k, spec.min_score, spec.metadata_filter, spec.collapse
            ) == (brute_force(small, spec))


def _tiny(rows: int) -> VectorIndex:
    rng = np.random.default_rng(rows)
    matrix = rng.normal(size=(rows, DIMS)).astype(np.float32)
    chunks = [Chunk(f"d{r}#0", f"d{r}", "", "", "", "", "", {"team": "db"}) for r in range(rows)]
    return VectorIndex(chunks, matrix, SPACE)


def test_a_bad_query_shape_is_refused(index: VectorIndex) -> None:
    with pytest.raises(ValueError, match="query has shape"):
        search_many(index, [SearchSpec.of(np.zeros(DIMS + 1), 3)])


# -- the coalescer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("offload_rows", [0, 10**9], ids=["worker-thread", "on-the-loop"])
async def test_concurrent_searches_share_batches_and_keep_their_hits(
    index: VectorIndex, specs: list[SearchSpec], alone: list[list[ScoredChunk]], offload_rows: int
) -> None:
    coalescer = SearchCoalescer(max_batch=16, offload_rows=offload_rows)
    results = await asyncio.gather(*(coalescer.search(index, spec) for spec in specs))
    assert results == alone
    assert coalescer.searches == len(specs)
    assert coalescer.batches < len(specs)  # they were gathered ...
    assert coalescer.batches >= len(specs) // 16  # ... never more than max_batch at once


async def test_a_lone_search_is_scored_without_waiting_for_others(index: VectorIndex, specs) -> None:
    coalescer = SearchCoalescer(window=0.0, offload_rows=0)
    assert await coalescer.search(index, specs[1]) == index.search(
        specs[1].vector, specs[1].top_k, specs[1].min_score, specs[1].metadata_filter, specs[1].collapse
    )
    assert (coalescer.batches, coalescer.searches) == (1, 1)


async def test_a_full_batch_does_not_wait_for_the_window(index: VectorIndex, specs, alone) -> None:
    coalescer = SearchCoalescer(window=3600.0, max_batch=8)
    async with asyncio.timeout(60):  # far below the window: only a full batch can flush this soon
        results = await asyncio.gather(*(coalescer.search(index, spec) for spec in specs[:8]))
    assert results == alone[:8]
    assert coalescer.batches == 1


async def test_searches_holding_different_index_objects_are_never_scored_together() -> None:
    old, new = make_index(3_000, seed=10), make_index(3_000, seed=11)  # a swap: same chunks, new vectors
    queries = random_specs(old, 60, seed=12)
    coalescer = SearchCoalescer(max_batch=64, offload_rows=0)
    held = [old if i % 2 else new for i in range(len(queries))]
    results = await asyncio.gather(*(coalescer.search(ix, q) for ix, q in zip(held, queries, strict=True)))
    for ix, query, hits in zip(held, queries, results, strict=True):
        assert hits == brute_force(ix, query)
    assert coalescer.batches >= 2


async def test_a_cancelled_or_bad_search_leaves_the_rest_of_its_batch_alone(
    index: VectorIndex, specs: list[SearchSpec], alone: list[list[ScoredChunk]]
) -> None:
    coalescer = SearchCoalescer(window=3600.0, max_batch=5, offload_rows=0)
    doomed = asyncio.ensure_future(coalescer.search(index, specs[0]))
    await asyncio.sleep(0)  # let it queue (ordering, not timing: it is now waiting in the batch)
    doomed.cancel()
    with pytest.raises(ValueError, match="query has shape"):
        await coalescer.search(index, SearchSpec.of(np.zeros(3), 1))
    results = await asyncio.gather(*(coalescer.search(index, spec) for spec in specs[1:6]))
    assert results == alone[1:6]
    assert doomed.cancelled()


async def test_an_idle_coalescer_holds_no_index(specs: list[SearchSpec]) -> None:
    """After a swap the old matrix must be freed: the coalescer may not keep it alive."""
    swapped_out = make_index(2_000, seed=20)
    coalescer = SearchCoalescer(offload_rows=0)
    await asyncio.gather(*(coalescer.search(swapped_out, spec) for spec in random_specs(swapped_out, 10, 21)))
    gone = weakref.ref(swapped_out)
    del swapped_out
    gc.collect()
    assert gone() is None


class GatedProduct(RowSplitProduct):
    """Holds the first product until the test opens the gate: a batch stays running meanwhile."""

    def __init__(self) -> None:
        super().__init__(threads=1)
        self.gate = threading.Event()

    def scores(self, queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        self.gate.wait()
        return super().scores(queries, matrix)


async def start_behind_a_running_batch(
    coalescer: SearchCoalescer, first: list[Awaitable[object]], second: list[Awaitable[object]]
) -> list[object]:
    """Run ``first`` callers into a batch held in its thread, queue ``second`` behind it, then let it go."""
    gated = GatedProduct()
    coalescer.product = gated
    started = [asyncio.ensure_future(call) for call in first]
    for _ in range(2):  # the callers queue, then their flush takes them (ordering, not timing)
        await asyncio.sleep(0)
    assert coalescer.batches == 1  # and is held in its thread
    queued = [asyncio.ensure_future(call) for call in second]
    await asyncio.sleep(0)  # each queued caller ran up to its wait (ordering, not timing)
    gated.gate.set()
    return list(await asyncio.gather(*started, *queued))


async def test_callers_answered_by_a_batch_join_those_that_waited_for_it(
    index: VectorIndex, specs: list[SearchSpec], alone: list[list[ScoredChunk]]
) -> None:
    """Two groups of steady callers merge into one batch instead of alternating, each batch reading
    the matrix for half of them."""
    # A wait long enough for callers on this loop to come back, however slow the machine.
    coalescer = SearchCoalescer(offload_rows=0, regroup_share=10**6, regroup_max=30.0)

    async def caller(first: int, rounds: int) -> list[list[ScoredChunk]]:
        # A closed loop: the next search as soon as the last one is answered.
        return [await coalescer.search(index, specs[first + 8 * r]) for r in range(rounds)]

    # Callers 0-3 search 4 times, 4-7 three times, behind the first batch: they end together.
    results = await start_behind_a_running_batch(
        coalescer, [caller(c, 4) for c in range(4)], [caller(c, 3) for c in range(4, 8)]
    )
    for c, hits in enumerate(results):
        assert hits == [alone[c + 8 * r] for r in range(4 if c < 4 else 3)]
    # 0-3, then 4-7 with the next searches of 0-3, three times: alternating would take 7 batches.
    assert (coalescer.batches, coalescer.searches) == (4, 28)


async def test_callers_that_do_not_come_back_delay_the_waiting_ones_only_for_the_regroup_wait(
    index: VectorIndex, specs: list[SearchSpec], alone: list[list[ScoredChunk]]
) -> None:
    coalescer = SearchCoalescer(offload_rows=0, regroup_share=1.0, regroup_max=0.05)
    results = await start_behind_a_running_batch(
        coalescer,
        [coalescer.search(index, spec) for spec in specs[:4]],
        [coalescer.search(index, spec) for spec in specs[4:8]],
    )
    assert results == alone[:8]
    assert (coalescer.batches, coalescer.searches) == (2, 8)


async def test_without_a_regroup_wait_the_next_batch_starts_at_once(
    index: VectorIndex, specs: list[SearchSpec], alone: list[list[ScoredChunk]]
) -> None:
    coalescer = SearchCoalescer(offload_rows=0, regroup_share=0.0)

    async def caller(first: int, rounds: int) -> list[list[ScoredChunk]]:
        return [await coalescer.search(index, specs[first + 8 * r]) for r in range(rounds)]

    await start_behind_a_running_batch(
        coalescer, [caller(c, 4) for c in range(4)], [caller(c, 3) for c in range(4, 8)]
    )
    assert (coalescer.batches, coalescer.searches) == (7, 28)  # the two groups alternate

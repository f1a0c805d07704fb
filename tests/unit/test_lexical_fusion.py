"""Reciprocal rank and relative score fusion, and one ranking from the dense and lexical hits of
several indexes."""

from __future__ import annotations

import pytest

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk
from semsearch.search.fusion import RRF_K, reciprocal_rank_fusion, relative_score_fusion
from semsearch.search.hits import Contribution
from semsearch.search.query import SearchMode
from semsearch.search.ranking import FUSION_DEPTH, Fusion, collapse_in_index, depth, rank

RRF = Fusion("rrf")
RELATIVE = Fusion("relative", dense_weight=0.5)


def chunk(doc: str, n: int = 0) -> Chunk:
    return Chunk(f"{doc}#{n}", doc, doc, "", doc, doc, f"{doc}.md", {})


def scored(doc: str, score: float, n: int = 0) -> ScoredChunk:
    return ScoredChunk(chunk(doc, n), score)


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.scored.chunk.id for h in hits]


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]])
    scores = {f.key: f.score for f in fused}
    assert scores["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert scores["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert scores["b"] == pytest.approx(1 / (RRF_K + 2))
    assert [f.key for f in fused] == ["a", "c", "b"]
    assert {f.key: f.ranks for f in fused} == {"a": (1, 2), "b": (2, None), "c": (3, 1)}


def test_rrf_prefers_agreement_and_breaks_ties_by_best_rank_then_first_ranking() -> None:
    # "both" is second in each ranking; each of the others is first in only one.
    fused = reciprocal_rank_fusion([["dense-only", "both"], ["lexical-only", "both"]])
    assert [f.key for f in fused] == ["both", "dense-only", "lexical-only"]
    assert [f.key for f in reciprocal_rank_fusion([["x"], ["y"]])] == ["x", "y"]
    assert reciprocal_rank_fusion([["a", "a"]])[0].ranks == (1,)
    assert reciprocal_rank_fusion([[], []]) == []


def test_hybrid_fuses_and_reports_every_signal() -> None:
    cosines = {"a": 0.9, "b": 0.8, "c": 0.3}
    part = Contribution(
        "ix",
        dense=[scored("a", 0.9), scored("b", 0.8)],
        lexical=[scored("c", 7.0), scored("b", 3.0)],
        dense_of=lambda c: cosines[c.document_id],
    )
    hits, mode = rank([part], top_k=10, min_score=-1.0, collapse=True, fusion=RRF)
    assert mode is SearchMode.HYBRID
    assert ids(hits) == ["b#0", "a#0", "c#0"]
    b, a, c = hits
    assert b.scored.score == pytest.approx(1 / 62 + 1 / 62)
    assert (b.dense_rank, b.dense_score, b.lexical_rank, b.lexical_score) == (2, 0.8, 2, 3.0)
    assert (a.dense_rank, a.lexical_rank, a.lexical_score) == (1, None, None)
    # Found by words alone, c still carries its cosine: every dense-capable hit does.
    assert (c.dense_rank, c.dense_score, c.lexical_rank) == (None, 0.3, 1)
    assert not any(h.pinned for h in hits)


def test_min_score_filters_on_the_dense_score_in_hybrid_too() -> None:
    part = Contribution(
        "ix",
        dense=[scored("a", 0.9)],
        lexical=[scored("c", 7.0)],
        dense_of=lambda c: 0.3,
    )
    hits, _ = rank([part], top_k=10, min_score=0.5, collapse=True)
    assert ids(hits) == ["a#0"]


def test_dense_and_lexical_alone_keep_their_own_scores_and_order() -> None:
    part = Contribution("ix", dense=[scored("a", 0.9), scored("b", 0.5)])
    hits, mode = rank([part], top_k=10, min_score=-1.0, collapse=True)
    assert mode is SearchMode.DENSE
    assert [(h.scored.chunk.id, h.scored.score, h.dense_score) for h in hits] == [
        ("a#0", 0.9, 0.9),
        ("b#0", 0.5, 0.5),
    ]
    part = Contribution("ix", lexical=[scored("c", 7.0), scored("d", 2.0)])
    hits, mode = rank([part], top_k=1, min_score=0.99, collapse=True)  # no cosine: min_score moot
    assert mode is SearchMode.LEXICAL
    assert [(h.scored.chunk.id, h.scored.score, h.dense_score, h.lexical_rank) for h in hits] == [
        ("c#0", 7.0, None, 1)
    ]


def test_indexes_merge_dense_by_cosine_and_a_degraded_index_adds_lexical_hits() -> None:
    ready = Contribution(
        "ready", dense=[scored("r1", 0.7)], lexical=[scored("r1", 1.0)], dense_of=lambda c: 0.7
    )
    other = Contribution("other", dense=[scored("o1", 0.9), scored("o2", 0.1)], lexical=[])
    degraded = Contribution("parked", lexical=[scored("p1", 5.0)])
    hits, mode = rank([ready, other, degraded], top_k=10, min_score=-1.0, collapse=True, fusion=RRF)
    assert mode is SearchMode.HYBRID
    by_id = {h.scored.chunk.id: h for h in hits}
    assert (by_id["o1#0"].dense_rank, by_id["r1#0"].dense_rank, by_id["o2#0"].dense_rank) == (1, 2, 3)
    assert (by_id["p1#0"].lexical_rank, by_id["r1#0"].lexical_rank) == (1, 2)
    assert by_id["p1#0"].dense_score is None and by_id["p1#0"].index == "parked"
    assert ids(hits)[0] == "r1#0"  # the only hit both signals found


def test_collapse_ranks_documents_and_all_chunks_ranks_chunks() -> None:
    dense = [scored("a", 0.9, 0), scored("a", 0.8, 1), scored("b", 0.7, 0)]
    lexical = [scored("a", 5.0, 1), scored("b", 4.0, 0)]
    cosines = {"a#0": 0.9, "a#1": 0.8, "b#0": 0.7}
    part = Contribution("ix", dense=dense, lexical=lexical, dense_of=lambda c: cosines[c.id])
    per_document, _ = rank([part], 10, -1.0, collapse=True, fusion=RRF)
    assert ids(per_document) == ["a#0", "b#0"]  # dense's best chunk shown
    assert (per_document[0].dense_rank, per_document[0].lexical_rank) == (1, 1)
    assert per_document[0].lexical_score == 5.0  # of the document's best lexical chunk
    per_chunk, _ = rank([part], 10, -1.0, collapse=False, fusion=RRF)
    assert ids(per_chunk) == ["a#1", "b#0", "a#0"]  # found by both signals beats first in one
    assert [(h.dense_rank, h.lexical_rank) for h in per_chunk] == [(2, 1), (3, 2), (1, None)]


def test_named_documents_come_first_even_when_no_signal_ranked_them() -> None:
    ranked_low = Contribution(
        "ix",
        dense=[scored("a", 0.9), scored("b", 0.2)],
        lexical=[scored("a", 3.0)],
        named=[chunk("b")],
        dense_of=lambda c: {"a": 0.9, "b": 0.2, "z": 0.1}[c.document_id],
    )
    hits, _ = rank([ranked_low], 10, -1.0, collapse=True)
    assert ids(hits) == ["b#0", "a#0"]
    assert hits[0].pinned and not hits[1].pinned
    assert hits[0].dense_rank == 2  # its signals are kept
    unranked = Contribution(
        "ix",
        dense=[scored("a", 0.9)],
        lexical=[scored("a", 3.0)],
        named=[chunk("z")],
        dense_of=lambda c: {"a": 0.9, "z": 0.1}[c.document_id],
    )
    hits, _ = rank([unranked], 1, -1.0, collapse=True)
    assert ids(hits) == ["z#0"]
    assert (hits[0].pinned, hits[0].scored.score, hits[0].dense_score, hits[0].dense_rank) == (
        True,
        0.0,
        0.1,
        None,
    )
    below, _ = rank([unranked], 10, 0.5, collapse=True)
    assert ids(below) == ["a#0"]  # a named document still has to pass min_score


def test_dense_mode_pins_nothing_and_lexical_mode_scores_an_added_pin_by_bm25() -> None:
    dense_only = Contribution("ix", dense=[scored("a", 0.9)], named=[chunk("z")], dense_of=lambda c: 0.1)
    hits, _ = rank([dense_only], 10, -1.0, collapse=True)
    assert ids(hits) == ["a#0"]
    lexical_only = Contribution(
        "ix", lexical=[scored("a", 3.0)], named=[chunk("z")], lexical_of=lambda c: 1.5
    )
    hits, _ = rank([lexical_only], 10, -1.0, collapse=True)
    assert [(h.scored.chunk.id, h.scored.score, h.pinned) for h in hits] == [
        ("z#0", 1.5, True),
        ("a#0", 3.0, False),
    ]


def test_depth_widens_hybrid_candidates_only() -> None:
    assert depth(SearchMode.DENSE, 5) == 5
    assert depth(SearchMode.LEXICAL, 5) == 5
    assert depth(SearchMode.HYBRID, 5) == FUSION_DEPTH
    assert depth(SearchMode.HYBRID, 100) == 100


def test_relative_fusion_scales_each_signal_to_its_candidates_and_weighs_them() -> None:
    fused = relative_score_fusion([{"a": 0.9, "b": 0.8, "c": 0.7}, {"c": 12.0, "b": 2.0}], [0.6, 0.4])
    scores = dict(fused)
    assert scores["a"] == pytest.approx(0.6)  # the best cosine, no words
    assert scores["b"] == pytest.approx(0.6 * 0.5 + 0.0)  # the worst BM25 scales to 0
    assert scores["c"] == pytest.approx(0.0 + 0.4)
    assert [key for key, _ in fused] == ["a", "c", "b"]
    # Equal scores scale to 1; ties go to the earlier signal's better item.
    assert relative_score_fusion([{"x": 0.5}, {"y": 3.0}], [0.5, 0.5]) == [("x", 0.5), ("y", 0.5)]
    assert relative_score_fusion([{}, {}], [0.5, 0.5]) == []


def test_relative_fusion_lets_a_clear_winner_of_one_signal_beat_a_weak_match_of_both() -> None:
    # RRF caps what one signal alone gives at 1/61: "dense-only" (far ahead by meaning) would fall
    # behind "both" (found weakly by each). Scaled scores keep how far ahead it is.
    dense = [scored("dense-only", 0.95)] + [scored(f"d{n}", 0.80 - n / 1000) for n in range(20)]
    dense += [scored("both", 0.70)]
    lexical = [scored(f"l{n}", 9.0 - n / 10) for n in range(20)] + [scored("both", 1.0)]
    part = Contribution("ix", dense=dense, lexical=lexical, dense_of=lambda c: 0.5)
    by_rrf, _ = rank([part], 3, -1.0, collapse=True, fusion=RRF)
    assert ids(by_rrf)[0] == "both#0"
    by_score, mode = rank([part], 3, -1.0, collapse=True, fusion=RELATIVE)
    assert mode is SearchMode.HYBRID
    assert ids(by_score)[0] == "dense-only#0"
    assert by_score[0].scored.score == pytest.approx(0.5)  # best cosine, no words: 0.5 * 1 + 0.5 * 0
    assert (by_score[0].dense_rank, by_score[0].lexical_rank) == (1, None)


def test_relative_fusion_merges_every_index_before_scaling() -> None:
    # Two indexes, one scaling for each signal: a weak index's best is not lifted to 1.
    strong = Contribution(
        "strong", dense=[scored("s", 0.9)], lexical=[scored("s", 8.0)], dense_of=lambda c: 0.9
    )
    weak = Contribution("weak", dense=[scored("w", 0.5)], lexical=[scored("w", 1.0)], dense_of=lambda c: 0.5)
    hits, _ = rank([weak, strong], 10, -1.0, collapse=True, fusion=RELATIVE)
    assert [(h.index, h.scored.score) for h in hits] == [("strong", 1.0), ("weak", 0.0)]


def test_a_chunk_bonus_adds_a_share_of_a_documents_further_matching_chunks() -> None:
    # "long" has three chunks found by meaning, none the best; "short" has the single best one.
    dense = [scored("short", 0.90), scored("long", 0.85, 0), scored("long", 0.84, 1), scored("long", 0.83, 2)]
    dense += [scored("other", 0.50)]
    part = Contribution("ix", dense=dense, lexical=[scored("zzz", 1.0)], dense_of=lambda c: 0.5)
    plain, _ = rank([part], 3, -1.0, collapse=True, fusion=Fusion("relative", 0.8, chunk_bonus=0.0))
    assert ids(plain)[:2] == ["short#0", "long#0"]
    summed, _ = rank([part], 3, -1.0, collapse=True, fusion=Fusion("relative", 0.8, chunk_bonus=0.5))
    assert ids(summed)[:2] == ["long#0", "short#0"]  # the hit shows the document's best chunk
    # Ranks and scores reported per signal are still those of each document's best chunk.
    assert (summed[0].dense_rank, summed[0].dense_score) == (2, 0.85)


def test_summing_chunks_asks_indexes_for_chunks_not_documents_in_hybrid_only() -> None:
    summing = Fusion("relative", 0.5, chunk_bonus=0.1, depth=120)
    assert collapse_in_index(SearchMode.HYBRID, True, summing) is False
    assert collapse_in_index(SearchMode.DENSE, True, summing) is True
    assert collapse_in_index(SearchMode.HYBRID, True, RELATIVE) is True
    assert collapse_in_index(SearchMode.HYBRID, False, RELATIVE) is False  # all_chunks
    assert collapse_in_index(SearchMode.HYBRID, True, Fusion("rrf", chunk_bonus=0.1)) is True
    assert depth(SearchMode.HYBRID, 10, summing) == 120
    assert depth(SearchMode.LEXICAL, 10, summing) == 10


def test_the_size_prior_weighs_a_big_index_s_cosines_down_before_the_scaling() -> None:
    # "big" has 10,000 chunks, "small" 50: 0.01 x ln(10000 / 50) = 0.053 separates their cosines.
    big = Contribution("big", dense=[scored("b", 0.84), scored("b2", 0.70)], lexical=[], size=10_000)
    small = Contribution("small", dense=[scored("s", 0.80)], lexical=[], size=50)
    plain, _ = rank([big, small], 10, -1.0, collapse=True, fusion=Fusion("relative", 1.0))
    sized, _ = rank([big, small], 10, -1.0, collapse=True, fusion=Fusion("relative", 1.0, size_prior=0.01))
    assert ids(plain) == ["b#0", "s#0", "b2#0"]
    assert ids(sized) == ["s#0", "b#0", "b2#0"]
    # The scores stay in [0, 1] (best 1, worst 0) and the hits keep their own cosines and ranks.
    assert sized[0].scored.score == 1.0 and sized[-1].scored.score == 0.0
    assert [(h.dense_score, h.dense_rank) for h in sized] == [(0.80, 2), (0.84, 1), (0.70, 3)]


def test_the_size_prior_changes_nothing_within_one_index() -> None:
    dense = [scored("a", 0.9), scored("b", 0.7), scored("c", 0.4)]
    lexical = [scored("c", 6.0), scored("b", 2.0)]
    part = Contribution("ix", dense=dense, lexical=lexical, size=10_000)
    plain, _ = rank([part], 10, -1.0, collapse=True, fusion=Fusion("relative", 0.6))
    sized, _ = rank([part], 10, -1.0, collapse=True, fusion=Fusion("relative", 0.6, size_prior=0.05))
    assert ids(sized) == ids(plain) == ["a#0", "c#0", "b#0"]
    assert [h.scored.score for h in sized] == pytest.approx([h.scored.score for h in plain])

"""The command line's search output names the mode, each hit's signals and every degraded index."""

from __future__ import annotations

from semsearch.api.v1 import search_pb2, types_pb2
from semsearch.console.output import render_text
from semsearch.console.tables import degraded_lines, hits_view, signals_label

HYBRID, LEXICAL = search_pb2.SEARCH_MODE_HYBRID, search_pb2.SEARCH_MODE_LEXICAL


def test_signals_read_as_one_word() -> None:
    assert signals_label(search_pb2.SearchHit(dense_rank=2, lexical_rank=1)) == "d2·l1"
    assert signals_label(search_pb2.SearchHit(lexical_rank=3, pinned=True)) == "pin·l3"
    assert signals_label(search_pb2.SearchHit()) == "–"


def test_a_degraded_lexical_answer_says_so_and_shows_bm25_scores() -> None:
    response = search_pb2.SearchResponse(
        hits=[
            search_pb2.SearchHit(index="eips", title="EIP-1", score=7.25, lexical_score=7.25, lexical_rank=1)
        ],
        mode=LEXICAL,
        degraded=True,
        degraded_indexes=[
            search_pb2.DegradedIndex(
                index="eips",
                state=types_pb2.INDEX_STATE_REBUILDING,
                reason="INDEX_NOT_READY",
                message="index 'eips' is REBUILDING",
            )
        ],
    )
    heading, header, row = render_text(hits_view(response, "q", boxed=False), 200).splitlines()
    assert heading == "1 hit for “q” · lexical · DEGRADED"  # nothing embedded: no space named
    assert header.split() == ["#", "SCORE", "INDEX", "SOURCE", "SIGNALS", "TITLE", "SNIPPET"]
    assert row.split()[:4] == ["1", "7.25", "eips", "l1"]
    assert degraded_lines(response) == [
        "degraded: eips answered lexically (INDEX_NOT_READY): index 'eips' is REBUILDING"
    ]


def test_hybrid_scores_keep_four_places() -> None:
    response = search_pb2.SearchResponse(
        hits=[
            search_pb2.SearchHit(index="eips", title="t", score=1 / 61 + 1 / 62, dense_rank=1, lexical_rank=2)
        ],
        mode=HYBRID,
    )
    text = render_text(hits_view(response, "q", boxed=False), 200)
    assert "0.0325" in text and "d1·l2" in text and "· hybrid" in text

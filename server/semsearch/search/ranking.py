"""One ranking from what every searched index contributed: dense hits, lexical hits, named documents.

Dense hits of all indexes are merged by cosine (one embedding space, so the scores compare) and
lexical hits by BM25 (per-index statistics, so only roughly). With both, the two merged rankings
are fused by reciprocal rank fusion. Documents the query names are put first (LEXICAL and HYBRID).
Without ``all_chunks`` the rankings hold documents: each document's best chunk for each signal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk
from semsearch.search.fusion import reciprocal_rank_fusion
from semsearch.search.hits import Contribution, Hit
from semsearch.search.pinning import pin
from semsearch.search.query import SearchMode

# Each signal brings at least this many candidates to the fusion, so that an item ranked modestly
# by both signals can still beat one ranked well by only one.
FUSION_DEPTH = 50


def depth(mode: SearchMode, top_k: int) -> int:
    """How many candidates each signal of each index contributes."""
    return top_k if mode is not SearchMode.HYBRID else max(top_k, FUSION_DEPTH)


def effective_mode(contributions: Sequence[Contribution]) -> SearchMode:
    """DENSE or LEXICAL when only that signal was served, HYBRID when both were."""
    dense = any(c.dense is not None for c in contributions)
    lexical = any(c.lexical is not None for c in contributions)
    if dense and lexical:
        return SearchMode.HYBRID
    return SearchMode.DENSE if dense else SearchMode.LEXICAL


def rank(
    contributions: Sequence[Contribution], top_k: int, min_score: float, collapse: bool
) -> tuple[list[Hit], SearchMode]:
    """The ``top_k`` hits, named documents first, and the mode that ranked them."""
    mode = effective_mode(contributions)
    by_index = {c.index: c for c in contributions}

    def key(index: str, chunk: Chunk) -> tuple[str, str]:
        return (index, chunk.document_id if collapse else chunk.id)

    dense_at = _ranked(_merged(contributions, lambda c: c.dense), key)
    lexical_at = _ranked(_merged(contributions, lambda c: c.lexical), key)

    if mode is SearchMode.HYBRID:
        fused = reciprocal_rank_fusion([list(dense_at), list(lexical_at)])
        order = [(f.key, f.score) for f in fused]
    elif mode is SearchMode.DENSE:
        order = [(k, s.score) for k, (_, _, s) in dense_at.items()]
    else:
        order = [(k, s.score) for k, (_, _, s) in lexical_at.items()]

    hits: list[Hit] = []
    for k, score in order:
        found = dense_at.get(k) or lexical_at[k]
        index, chunk = found[1], found[2].chunk  # dense's chunk when it ranked the document
        hit = _hit(by_index[index], chunk, score, dense_at.get(k), lexical_at.get(k))
        if hit.dense_score is None or hit.dense_score >= min_score:
            hits.append(hit)

    if mode is not SearchMode.DENSE:
        hits = pin(hits, contributions, mode, min_score)
    return hits[:top_k], mode


def _merged(
    contributions: Sequence[Contribution], signal: Callable[[Contribution], Sequence[ScoredChunk] | None]
) -> list[tuple[str, ScoredChunk]]:
    merged = [(c.index, s) for c in contributions for s in signal(c) or ()]
    merged.sort(key=lambda pair: (-pair[1].score, pair[0], pair[1].chunk.id))
    return merged


def _ranked(
    merged: list[tuple[str, ScoredChunk]], key: Callable[[str, Chunk], tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str, ScoredChunk]]:
    """Key -> (1-based rank, index, hit), each key at its first place (ranks stay consecutive)."""
    ranked: dict[tuple[str, str], tuple[int, str, ScoredChunk]] = {}
    for index, scored in merged:
        k = key(index, scored.chunk)
        if k not in ranked:
            ranked[k] = (len(ranked) + 1, index, scored)
    return ranked


def _hit(
    contribution: Contribution,
    chunk: Chunk,
    score: float,
    dense: tuple[int, str, ScoredChunk] | None,
    lexical: tuple[int, str, ScoredChunk] | None,
) -> Hit:
    if dense is not None and dense[2].chunk is chunk:
        dense_score: float | None = dense[2].score
    else:
        dense_score = contribution.dense_of(chunk) if contribution.dense is not None else None
    return Hit(
        contribution.index,
        ScoredChunk(chunk, score),
        dense_score=dense_score,
        dense_rank=dense[0] if dense else None,
        lexical_score=lexical[2].score if lexical else None,
        lexical_rank=lexical[0] if lexical else None,
    )

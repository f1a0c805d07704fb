"""One ranking from what every searched index contributed: dense hits, lexical hits, named documents.

The candidates of all indexes are merged before anything is fused: dense hits by cosine (one
embedding space, so the scores compare) and lexical hits by BM25 (with the query terms' idf shared
by every searched index, so those compare too). With both signals (HYBRID) the two merged rankings
are fused as ``DEFAULT_FUSION`` says. Documents the query names are put first (LEXICAL and HYBRID).
Without ``all_chunks`` the rankings hold documents: each document's best chunk for each signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from semsearch.corpus import Chunk
from semsearch.index import ScoredChunk
from semsearch.search.fusion import reciprocal_rank_fusion, relative_score_fusion
from semsearch.search.hits import Contribution, Hit
from semsearch.search.pinning import pin
from semsearch.search.query import SearchMode

# Each signal brings at least this many candidates to the fusion, so that an item ranked modestly
# by both signals can still beat one ranked well by only one.
FUSION_DEPTH = 50

RankKey = tuple[str, str]  # (index, document id), or (index, chunk id) with all_chunks


@dataclass(frozen=True, slots=True)
class Fusion:
    """How HYBRID makes one ranking of the dense and the lexical one.

    ``relative``: each signal's scores scaled to [0, 1] over its candidates and summed, the dense
    one weighing ``dense_weight`` and the lexical one the rest. With ``chunk_bonus`` a document
    also adds that share of the scaled score of each further chunk of it a signal found (its best
    chunk counts whole), and the indexes bring ``depth`` chunks rather than ``depth`` documents.
    With ``size_prior`` each index's cosines first lose that much times the natural log of its
    chunk count, before the scaling: pooled, a big index's best chunk is the best of many chances
    and outscores a small index's real match by chance (one index alone: a shift, no change).
    ``rrf``: reciprocal rank fusion of the two rankings (k = 60); weights and bonus do not apply.
    Only ``DEFAULT_FUSION`` serves requests; the others are kept so ``bench.relevance_tuning`` can
    show what it was chosen against.
    """

    method: str = "relative"
    dense_weight: float = 0.5
    chunk_bonus: float = 0.0
    depth: int = FUSION_DEPTH
    size_prior: float = 0.0

    @property
    def aggregates(self) -> bool:
        return self.method == "relative" and self.chunk_bonus > 0


# Chosen on the tuning half of the relevance benchmark (bench/relevance_tuning.py): dense weighs
# more because e5 finds paraphrases BM25 cannot; relative scores let a clear dense winner that
# words missed stay near the top, which reciprocal rank fusion caps at 1/61; and the size prior
# keeps the 10,000 chunks of a big index from crowding out the one right runbook of 50.
DEFAULT_FUSION = Fusion("relative", dense_weight=0.6, size_prior=0.008)


def depth(mode: SearchMode, top_k: int, fusion: Fusion = DEFAULT_FUSION) -> int:
    """How many candidates each signal of each index contributes."""
    return top_k if mode is not SearchMode.HYBRID else max(top_k, fusion.depth)


def collapse_in_index(mode: SearchMode, collapse: bool, fusion: Fusion = DEFAULT_FUSION) -> bool:
    """Whether each index brings one chunk per document; not when HYBRID sums a document's chunks."""
    return collapse and not (mode is SearchMode.HYBRID and fusion.aggregates)


def effective_mode(contributions: Sequence[Contribution]) -> SearchMode:
    """DENSE or LEXICAL when only that signal was served, HYBRID when both were."""
    dense = any(c.dense is not None for c in contributions)
    lexical = any(c.lexical is not None for c in contributions)
    if dense and lexical:
        return SearchMode.HYBRID
    return SearchMode.DENSE if dense else SearchMode.LEXICAL


def rank(
    contributions: Sequence[Contribution],
    top_k: int,
    min_score: float,
    collapse: bool,
    fusion: Fusion = DEFAULT_FUSION,
) -> tuple[list[Hit], SearchMode]:
    """The ``top_k`` hits, named documents first, and the mode that ranked them."""
    mode = effective_mode(contributions)
    by_index = {c.index: c for c in contributions}

    def key(index: str, chunk: Chunk) -> RankKey:
        return (index, chunk.document_id if collapse else chunk.id)

    dense = _merged(contributions, lambda c: c.dense)
    lexical = _merged(contributions, lambda c: c.lexical)
    dense_at, lexical_at = _ranked(dense, key), _ranked(lexical, key)

    order: list[tuple[RankKey, float]]
    if mode is SearchMode.HYBRID and fusion.method == "rrf":
        fused = reciprocal_rank_fusion([list(dense_at), list(lexical_at)])
        order = [(f.key, f.score) for f in fused]
    elif mode is SearchMode.HYBRID:
        pooled = fusion.size_prior > 0 and len(by_index) > 1  # one index alone: a shift, no change
        sized = _size_adjusted(dense, by_index, fusion.size_prior) if pooled else dense
        signals = [_scaled(sized, key, fusion.chunk_bonus), _scaled(lexical, key, fusion.chunk_bonus)]
        order = relative_score_fusion(signals, [fusion.dense_weight, 1 - fusion.dense_weight])
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


def _size_adjusted(
    merged: list[tuple[str, ScoredChunk]], by_index: Mapping[str, Contribution], prior: float
) -> list[tuple[str, ScoredChunk]]:
    """Each cosine less ``prior`` times the log of its index's chunk count, best first again."""
    shift = {index: prior * math.log(max(part.size, 1)) for index, part in by_index.items()}
    adjusted = [(index, ScoredChunk(scored.chunk, scored.score - shift[index])) for index, scored in merged]
    adjusted.sort(key=lambda pair: (-pair[1].score, pair[0], pair[1].chunk.id))
    return adjusted


def _scaled(
    merged: list[tuple[str, ScoredChunk]], key: Callable[[str, Chunk], RankKey], bonus: float
) -> dict[RankKey, float]:
    """Key -> its best chunk's score scaled to [0, 1] over the candidates, plus ``bonus`` times the
    scaled score of each further chunk of it (``merged`` is best first)."""
    if not merged:
        return {}
    high, low = merged[0][1].score, merged[-1][1].score
    spread = high - low
    scores: dict[RankKey, float] = {}
    for index, scored in merged:
        scaled = (scored.score - low) / spread if spread > 0 else 1.0
        k = key(index, scored.chunk)
        scores[k] = scores[k] + bonus * scaled if k in scores else scaled
    return scores


def _ranked(
    merged: list[tuple[str, ScoredChunk]], key: Callable[[str, Chunk], RankKey]
) -> dict[RankKey, tuple[int, str, ScoredChunk]]:
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

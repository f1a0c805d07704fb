"""Fusion: several rankings of the same kind of item into one.

Reciprocal rank fusion: each item scores ``sum(1 / (k + rank))`` over the rankings that hold it
(ranks from 1). Only ranks count, not the rankings' own scores, so a cosine similarity and a BM25
score need no common scale; ``k = 60`` (Cormack, Clarke and Büttcher, 2009) keeps the first few
ranks from dominating. An item found by one ranking alone scores at most 1/61, below any item both
found in their top 60, however well the one ranking placed it.

Relative score fusion: each ranking's scores are scaled to [0, 1] and summed with weights, so how
far ahead an item is counts, not only its place.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

RRF_K = 60

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Fused(Generic[Key]):
    key: Key
    score: float
    ranks: tuple[int | None, ...]  # 1-based rank in each input ranking; None where absent


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Key]], k: int = RRF_K) -> list[Fused[Key]]:
    """Every item of every ranking, best fused score first.

    Ties go to the item with the better best rank, then to the earlier ranking's order, so the
    result is a function of the rankings alone. An item repeated within one ranking counts once,
    at its first rank.
    """
    ranks: dict[Key, list[int | None]] = {}
    for which, ranking in enumerate(rankings):
        for rank, key in enumerate(ranking, start=1):
            held = ranks.setdefault(key, [None] * len(rankings))
            if held[which] is None:
                held[which] = rank
    fused = [
        Fused(key, sum(1.0 / (k + r) for r in held if r is not None), tuple(held))
        for key, held in ranks.items()
    ]
    fused.sort(key=lambda f: (-f.score, min(r for r in f.ranks if r is not None), _order(f.ranks)))
    return fused


def _order(ranks: tuple[int | None, ...]) -> tuple[int, ...]:
    # Absent ranks sort last; a plain tuple of ints keeps the sort key comparable.
    return tuple(r if r is not None else 1 << 30 for r in ranks)


def relative_score_fusion(
    signals: Sequence[Mapping[Key, float]], weights: Sequence[float]
) -> list[tuple[Key, float]]:
    """Every item of every signal with its fused score, best first (Weaviate's relative score fusion).

    Each signal's scores are scaled to [0, 1] over the items it found (its best 1, its worst 0; all
    1 when they are equal), so a cosine and a BM25 score become comparable; an item a signal did
    not find gets 0 from it. The fused score is the weighted sum. Ties go to the earlier signal's
    better item, so the result is a function of the inputs alone.
    """
    fused: dict[Key, float] = {}
    order: dict[Key, tuple[int, ...]] = {}
    for which, (scores, weight) in enumerate(zip(signals, weights, strict=True)):
        low, high = min(scores.values(), default=0.0), max(scores.values(), default=0.0)
        spread = high - low
        ranked = sorted(scores, key=lambda item: -scores[item])
        for rank, item in enumerate(ranked):
            scaled = (scores[item] - low) / spread if spread > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled
            order.setdefault(item, (which, rank))
    return sorted(fused.items(), key=lambda pair: (-pair[1], order[pair[0]]))

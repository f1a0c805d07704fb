"""Ranking variants on the tuning half of the relevance questions: how the HYBRID fusion was chosen.

Starts the relevance benchmark's server (same corpora, same vector cache), then searches every
tuning question pooled, in-process (no gRPC: the ranking is the same code), once per variant, and
prints one table. The held-out half is never searched here, so no choice can be fitted to it.

The rule that picks the winner was fixed before the variants were compared (``chosen``): the
highest mean of recall@1, recall@3 and MRR over the tuning half, among the variants under which
no index's questions lose more than ``GUARD`` of recall@3 or of MRR against reciprocal rank fusion
(a gain on the big eips group must not be paid for by the runbooks or the examples). Only variants
that fuse ``FUSION_DEPTH`` candidates per signal are eligible: the issue bounds HYBRID latency at
+20 %, and fusing 100 per signal measured +44 % at the median on the EIP index
(``bench.relevance_latency``), for no gain beyond one question moving one place.

``python -m bench.relevance_tuning`` runs the variants below; ``--per-index-idf`` searches with
each index's own BM25 statistics instead of shared ones (what lexical search did before).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bench.relevance_labels import CUTOFFS, MODES, POOLED, TOP_K, TUNING, Answer, Question, load_questions
from bench.relevance_report import scores
from bench.report import table
from semsearch.app import RunningApp
from semsearch.index.lexical import shared_idf
from semsearch.search import searcher as searcher_module
from semsearch.search.query import SearchMode, validate_query
from semsearch.search.ranking import DEFAULT_FUSION, FUSION_DEPTH, Fusion
from semsearch.search.searcher import Searcher

RRF = Fusion("rrf")
SIZE_PRIORS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.012)
WEIGHTS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
VARIANTS: dict[str, Fusion] = {
    "rrf": RRF,
    **{f"relative, dense {w}": Fusion("relative", dense_weight=w) for w in WEIGHTS},
    **{f"relative, dense {w}, depth 100": Fusion("relative", w, depth=100) for w in (0.6, 0.7, 0.8)},
    **{
        f"relative, dense {w}, chunk bonus {b}, depth {d}": Fusion("relative", w, b, d)
        for w in (0.5, 0.6, 0.7, 0.8)
        for b in (0.05, 0.1, 0.2)
        for d in (50, 100)
    },
    **{
        f"relative, dense {w}, size prior {a}": Fusion("relative", w, size_prior=a)
        for w in (0.5, 0.6, 0.7, 0.8)
        for a in SIZE_PRIORS
    },
}
# The relevance section's table (name, fusion, each index's own idf): where HYBRID started, each
# change alone, the best variant of each other kind, and the default.
REPORTED: list[tuple[str, Fusion, bool]] = [
    ("reciprocal rank fusion, per-index idf (before)", RRF, True),
    ("reciprocal rank fusion, shared idf", RRF, False),
    ("relative score, dense 0.7, per-index idf", Fusion("relative", 0.7), True),
    ("relative score, dense 0.5", Fusion("relative", 0.5), False),
    ("relative score, dense 0.7, chunk bonus 0.05", Fusion("relative", 0.7, 0.05), False),
    ("relative score, dense 0.7, shared idf", Fusion("relative", 0.7), False),
    ("relative score, dense 0.7, size prior 0.008", Fusion("relative", 0.7, size_prior=0.008), False),
    ("relative score, dense 0.6, size prior 0.008, per-index idf", DEFAULT_FUSION, True),
    ("relative score, dense 0.6, size prior 0.008, shared idf (default)", DEFAULT_FUSION, False),
]
GUARD = 0.10  # the most recall@3 or MRR one index's questions may lose against rrf


@dataclass(frozen=True)
class Variant:
    name: str
    fusion: Fusion
    answers: list[Answer]

    @property
    def criterion(self) -> float:
        r1, r3, _, mrr = scores(self.answers)
        return (r1 + r3 + mrr) / 3

    def by_index(self, index: str) -> tuple[float, float]:
        """recall@3 and MRR of the questions about ``index``."""
        _, r3, _, mrr = scores([a for a in self.answers if a.question.index == index])
        return r3, mrr


def tuning_questions() -> list[Question]:
    return [q for q in load_questions() if q.half == TUNING]


@contextlib.contextmanager
def per_index_idf() -> Iterator[None]:
    """Searches meanwhile weigh each query term by each index's own idf (as before shared idf)."""
    names = vars(searcher_module)  # the name the searcher calls, not the library's own
    names["shared_idf"] = lambda indexes, query: None
    try:
        yield
    finally:
        names["shared_idf"] = shared_idf


async def answers(searcher: Searcher, questions: Sequence[Question], mode: str) -> list[Answer]:
    """Every question searched pooled, in-process."""
    found = []
    for q in questions:
        result = await searcher.search(validate_query(q.text, top_k=TOP_K, mode=SearchMode[mode]))
        ranked = tuple((hit.index, hit.scored.chunk.document_id) for hit in result.hits)
        found.append(Answer(q, mode, POOLED, ranked, sum(hit.pinned for hit in result.hits)))
    return found


async def compare(
    app: RunningApp, questions: Sequence[Question], variants: Mapping[str, Fusion]
) -> list[Variant]:
    """Every question searched HYBRID once per variant."""
    searcher = Searcher(app.manager)
    compared = []
    for name, fusion in variants.items():
        searcher.fusion = fusion
        compared.append(Variant(name, fusion, await answers(searcher, questions, "HYBRID")))
    return compared


def chosen(variants: Sequence[Variant]) -> Variant:
    """The winner by the rule in the module's docstring; the first listed wins a tie."""
    rrf = next(v for v in variants if v.fusion == RRF)
    indexes = dict.fromkeys(a.question.index for a in rrf.answers)

    def holds(v: Variant) -> bool:
        return all(
            mine >= theirs - GUARD
            for index in indexes
            for mine, theirs in zip(v.by_index(index), rrf.by_index(index), strict=True)
        )

    eligible = [v for v in variants if v.fusion.depth == FUSION_DEPTH and holds(v)]
    return max(eligible, key=lambda v: v.criterion)


def row(name: str, found: Sequence[Answer], indexes: Sequence[str]) -> list[object]:
    r1, r3, r10, mrr = scores(found)
    cells: list[object] = [name, *(f"{s:.3f}" for s in (r1, r3, r10, mrr)), f"{(r1 + r3 + mrr) / 3:.3f}"]
    for index in indexes:
        _, r3_index, _, mrr_index = scores([a for a in found if a.question.index == index])
        cells.append(f"{r3_index:.2f} / {mrr_index:.2f}")
    return cells


def headers(questions: Sequence[Question], first: str = "tuning half, pooled") -> list[str]:
    indexes = dict.fromkeys(q.index for q in questions)
    cells = [first, *(f"recall@{k}" for k in CUTOFFS), "MRR", "mean of R@1, R@3, MRR"]
    return cells + [f"{i} (n={sum(q.index == i for q in questions)}) R@3 / MRR" for i in indexes]


async def report(app: RunningApp) -> str:
    """The tuning table of the relevance section, and which variant the rule picks today."""
    questions = tuning_questions()
    indexes = list(dict.fromkeys(q.index for q in questions))
    searcher = Searcher(app.manager)
    rows = []
    for name, fusion, own_idf in REPORTED:
        searcher.fusion = fusion
        with per_index_idf() if own_idf else contextlib.nullcontext():
            rows.append(row(name, await answers(searcher, questions, "HYBRID"), indexes))
    winner = chosen(await compare(app, questions, VARIANTS))
    verdict = "the default" if winner.fusion == DEFAULT_FUSION else "**not the default**: choose again"
    rule = (
        f"Of all {len(VARIANTS)} variants `python -m bench.relevance_tuning` compares, the rule picks "
        f"“{winner.name}” ({verdict})."
    )
    return table(headers(questions, "HYBRID, tuning half, pooled"), rows) + "\n\n" + rule


async def main(idf_per_index: bool) -> None:
    from bench.relevance import serving  # which imports this module for its report

    questions = tuning_questions()
    indexes = list(dict.fromkeys(q.index for q in questions))
    with per_index_idf() if idf_per_index else contextlib.nullcontext():
        async with serving() as app:
            searcher = Searcher(app.manager)
            rows = [row(mode, await answers(searcher, questions, mode), indexes) for mode in MODES[:2]]
            compared = await compare(app, questions, VARIANTS)
    winner = chosen(compared)
    for v in compared:
        marks = [m for m, on in (("chosen", v is winner), ("default", v.fusion == DEFAULT_FUSION)) if on]
        rows.append(row(f"HYBRID {v.name}" + (f" ({', '.join(marks)})" if marks else ""), v.answers, indexes))
    print(table(headers(questions), rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.relevance_tuning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--per-index-idf", action="store_true", help="BM25 statistics of each index alone")
    print("bench: relevance tuning ...", file=sys.stderr, flush=True)
    asyncio.run(main(parser.parse_args().per_index_idf))

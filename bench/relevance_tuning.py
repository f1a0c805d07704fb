"""Ranking variants on the tuning half of the relevance questions: how the HYBRID fusion was chosen.

Starts the relevance benchmark's server (same corpora, same vector cache), then searches every
tuning question pooled, in-process (no gRPC: the ranking is the same code), once per variant, and
prints one table. The held-out half is never searched here, so no choice can be fitted to it.

``python -m bench.relevance_tuning`` runs the variants below; ``--per-index-idf`` searches with
each index's own BM25 statistics instead of shared ones (what lexical search did before).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace

from bench.relevance import serving
from bench.relevance_labels import CUTOFFS, MODES, POOLED, TOP_K, TUNING, Answer, Question, load_questions
from bench.relevance_report import scores
from bench.report import table
from semsearch.search import searcher as searcher_module
from semsearch.search.query import SearchMode, validate_query
from semsearch.search.ranking import DEFAULT_FUSION, Fusion
from semsearch.search.searcher import Searcher

VARIANTS: dict[str, Fusion] = {
    "rrf": Fusion("rrf"),
    **{f"relative, dense {w}": Fusion("relative", dense_weight=w) for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)},
    **{
        f"relative, dense {w}, chunk bonus {b}, depth {d}": Fusion("relative", w, b, d)
        for w in (0.5, 0.6, 0.7)
        for b in (0.05, 0.1, 0.2)
        for d in (50, 100)
    },
}


async def _answers(searcher: Searcher, questions: Sequence[Question], mode: str) -> list[Answer]:
    answers = []
    for q in questions:
        result = await searcher.search(validate_query(q.text, top_k=TOP_K, mode=SearchMode[mode]))
        ranked = tuple((hit.index, hit.scored.chunk.document_id) for hit in result.hits)
        answers.append(Answer(q, mode, POOLED, ranked, sum(hit.pinned for hit in result.hits)))
    return answers


def _row(name: str, answers: Sequence[Answer], indexes: Sequence[str]) -> list[object]:
    cells: list[object] = [name, *(f"{s:.3f}" for s in scores(answers))]
    for index in indexes:
        mine = [a for a in answers if a.question.index == index]
        _, r3, _, mrr = scores(mine)
        cells.append(f"{r3:.2f} / {mrr:.2f}")
    return cells


async def main(per_index_idf: bool) -> None:
    if per_index_idf:
        searcher_module.shared_idf = lambda indexes, query: None  # type: ignore[attr-defined,assignment,return-value]
    questions = [q for q in load_questions() if q.half == TUNING]
    indexes = list(dict.fromkeys(q.index for q in questions))
    async with serving() as app:
        searcher = Searcher(app.manager)
        rows = []
        for mode in MODES[:2]:
            rows.append(_row(mode, await _answers(searcher, questions, mode), indexes))
        for name, fusion in VARIANTS.items():
            searcher.fusion = fusion
            mark = " (default)" if replace(fusion) == DEFAULT_FUSION else ""
            rows.append(_row(f"HYBRID {name}{mark}", await _answers(searcher, questions, "HYBRID"), indexes))
    headers = ["tuning half, pooled", *(f"recall@{k}" for k in CUTOFFS), "MRR"]
    headers += [f"{index} (n={sum(q.index == index for q in questions)}) R@3 / MRR" for index in indexes]
    print(table(headers, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.relevance_tuning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--per-index-idf", action="store_true", help="BM25 statistics of each index alone")
    print("bench: relevance tuning ...", file=sys.stderr, flush=True)
    asyncio.run(main(parser.parse_args().per_index_idf))

"""The relevance section's text: pooled search first (both halves), then by corpus, own index, style."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.relevance_labels import CUTOFFS, HELD_OUT, MODES, OWN, POOLED, TOP_K, TUNING, Answer, Question
from bench.report import table
from semsearch.search.ranking import DEFAULT_FUSION

HALVES = (HELD_OUT, TUNING)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def scores(answers: Sequence[Answer]) -> list[float]:
    """recall@1, recall@3, recall@10 and MRR, averaged over ``answers``."""
    return [
        *(_mean([a.recall(k) for a in answers]) for k in CUTOFFS),
        _mean([a.reciprocal_rank for a in answers]),
    ]


def _pick(answers: Sequence[Answer], scope: str, mode: str, members: Iterable[Question]) -> list[Answer]:
    texts = {q.text for q in members}
    return [a for a in answers if a.scope == scope and a.mode == mode and a.question.text in texts]


def _headline(answers: Sequence[Answer], questions: Sequence[Question]) -> str:
    rows: list[list[object]] = []
    for half in (HELD_OUT, TUNING, "both"):
        members = [q for q in questions if half in (q.half, "both")]
        for mode in MODES:
            found = _pick(answers, POOLED, mode, members)
            rows.append(
                [half if mode == MODES[0] else "", len(members), mode, *(f"{s:.3f}" for s in scores(found))]
            )
    return table(["half", "n", "mode", *(f"recall@{k}" for k in CUTOFFS), "MRR"], rows)


def _by_index(answers: Sequence[Answer], questions: Sequence[Question], scope: str) -> str:
    """A row per index and mode; recall@1, recall@3 and MRR of each half side by side."""
    rows: list[list[object]] = []
    for index in dict.fromkeys(q.index for q in questions):
        sizes = " / ".join(
            str(sum(q.index == index and q.half == half for q in questions)) for half in HALVES
        )
        for mode in MODES:
            cells: list[object] = [f"{index} ({sizes})" if mode == MODES[0] else "", mode]
            for half in HALVES:
                members = [q for q in questions if q.index == index and q.half == half]
                found = _pick(answers, scope, mode, members)
                r1, r3, _, mrr = scores(found)
                cells += [f"{r1:.3f}", f"{r3:.3f}", f"{mrr:.3f}"]
            rows.append(cells)
    headers = ["questions about (held-out / tuning)", "mode"]
    headers += [f"{half} {m}" for half in HALVES for m in ("recall@1", "recall@3", "MRR")]
    return table(headers, rows)


def _by_style(answers: Sequence[Answer], questions: Sequence[Question]) -> str:
    rows: list[list[object]] = []
    for style in sorted({q.style for q in questions}):
        n = sum(q.style == style for q in questions)
        found = _pick(answers, POOLED, "HYBRID", [q for q in questions if q.style == style])
        rows.append([style, n, *(f"{s:.3f}" for s in scores(found))])
    return table(["style (pooled, HYBRID, both halves)", "n", *(f"recall@{k}" for k in CUTOFFS), "MRR"], rows)


def _hybrid_losses(answers: Sequence[Answer]) -> list[str]:
    """Pooled questions where HYBRID recall@3 is below the better single mode."""
    by_question: dict[str, dict[str, Answer]] = {}
    for a in answers:
        if a.scope == POOLED:
            by_question.setdefault(a.question.text, {})[a.mode] = a
    lines = []
    for modes in by_question.values():
        hybrid, dense, lexical = modes["HYBRID"], modes["DENSE"], modes["LEXICAL"]
        if hybrid.recall(3) < max(dense.recall(3), lexical.recall(3)):
            q = hybrid.question
            lines.append(
                f"- {q.index}, {q.style}, {q.half}: “{q.text}” — recall@3 dense {dense.recall(3):.2f}, "
                f"lexical {lexical.recall(3):.2f}, hybrid {hybrid.recall(3):.2f}"
            )
    return lines


def body(
    answers: Sequence[Answer],
    questions: Sequence[Question],
    sizes: dict[str, tuple[int, int]],
    tuning: str,
    latency: str,
) -> str:
    pinned = sum(a.pinned > 0 for a in answers if a.mode == "HYBRID" and a.scope == POOLED)
    halves = {half: sum(q.half == half for q in questions) for half in HALVES}
    dense = DEFAULT_FUSION.dense_weight
    index_sizes = ", ".join(
        f"{name} {docs} documents / {chunks} chunks" for name, (docs, chunks) in sizes.items()
    )
    intro = (
        f"{len(questions)} labelled questions ([`bench/relevance_questions.yaml`]"
        "(bench/relevance_questions.yaml)) over the real corpora, indexed whole: "
        f"{index_sizes}. Each question is searched through the gRPC server with `e5-small`, top {TOP_K}, "
        "one hit per document, in every mode: **pooled** (no `indexes` in the request: every index at "
        "once, as most users search) and again in its own index alone. A question's wanted documents "
        "may be in any index. The questions are split once by a hash of their text into a tuning half "
        f"({halves[TUNING]}) and a held-out half ({halves[HELD_OUT]}); ranking choices are made on the "
        "tuning half only (`python -m bench.relevance_tuning`), so the held-out figures are the ones "
        "to quote. recall@k is the share of a question's wanted documents among its first k hits, out "
        "of at most k (a question with more wanted documents than k scores 1 when its first k hits are "
        "all wanted), averaged over questions; MRR is the mean of 1 / rank of the first wanted "
        f"document (0 when none is in the top {TOP_K}). LEXICAL and HYBRID pin documents a question "
        f"names (pooled HYBRID: {pinned} questions). Lexical scores of several indexes compare: each "
        "query word weighs one idf over every index searched. HYBRID scales each signal's scores to "
        f"[0, 1] over its candidates and weighs dense {dense:g}, lexical {1 - dense:g} (relative score "
        f"fusion), each cosine first less {DEFAULT_FUSION.size_prior:g} × ln(its index's chunk count) "
        "(the size prior), as chosen on the tuning half below."
    )
    losses = _hybrid_losses(answers)
    parts = [
        intro,
        "### Pooled: every index at once\n\n" + _headline(answers, questions),
        "### Pooled, by the index each question is about\n\n" + _by_index(answers, questions, POOLED),
        "### Each question in its own index alone\n\nOnly the question's own index is searched and "
        "only its wanted documents in that index count.\n\n" + _by_index(answers, questions, OWN),
        "### Pooled HYBRID by question style\n\n" + _by_style(answers, questions),
    ]
    if losses:
        parts.append(
            "Pooled questions where HYBRID recall@3 is below the better single mode:\n\n" + "\n".join(losses)
        )
    parts += [
        "### How HYBRID was chosen: the tuning half\n\nEvery tuning question searched pooled, HYBRID, "
        "in-process on the same server. The rule was fixed before comparing: the best mean of "
        "recall@1, recall@3 and MRR, no index's questions losing more than 0.10 of recall@3 or MRR "
        "against reciprocal rank fusion, 50 candidates per signal (100 cost too much latency for "
        "no gain). “Per-index idf” weighs each word by each index's own statistics, as lexical "
        "search did before; the chunk bonus adds 0.05 of each further matching chunk's score to "
        "its document's.\n\n" + tuning,
        "### What the ranking costs: search latency\n\nEvery question searched HYBRID in the eips "
        "index alone, in-process, its query vector already cached, by the old ranking and the "
        "new one in turn (rounds ordered ABBA); milliseconds per search.\n\n" + latency,
    ]
    return "\n\n".join(parts)

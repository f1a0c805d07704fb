"""Relevance: recall@1/@3/@10 and MRR of DENSE, LEXICAL and HYBRID search with e5-small.

The questions and the documents that answer them are in ``bench/relevance_questions.yaml``, over
the four real corpora in ``../shared/corpora``. Every question searches its own index through the
real gRPC server (top 10, one hit per document), once per mode. The EIP index holds the 81 Core EIPs
with status Final (a set of close neighbours: opcodes, gas, fees, forks) plus any other EIP a
question names, so that e5-small embeds ~2,700 chunks rather than ~10,500; the other corpora are
indexed whole. Vectors are kept in ``.semsearch/bench-relevance.sqlite``, so a second run embeds
nothing but the questions.

``python -m bench.relevance`` runs it alone and prints the section.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml

from bench import support
from bench.report import ROOT, Section, table
from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import parse_config
from semsearch.corpus import load_corpus

TITLE = "Relevance: dense, lexical and hybrid search (e5-small)"
QUESTIONS = Path(__file__).with_name("relevance_questions.yaml")
CACHE = ROOT / ".semsearch" / "bench-relevance.sqlite"
MODEL = "e5-small"
TOP_K = 10
CUTOFFS = (1, 3, 10)
STARTUP_TIMEOUT = 120.0
BUILD_TIMEOUT = 3600.0  # a cold cache on two busy cores
MODES = {
    "DENSE": search_pb2.SEARCH_MODE_DENSE,
    "LEXICAL": search_pb2.SEARCH_MODE_LEXICAL,
    "HYBRID": search_pb2.SEARCH_MODE_HYBRID,
}
# index name -> (corpus kind, folder under the corpora)
INDEXES = {
    "eips": ("eip", "eips"),
    "specs": ("spec", "consensus-specs"),
    "runbooks": ("markdown", "panda/runbooks"),
    "examples": ("examples", "panda/examples"),
}


@dataclass(frozen=True)
class Question:
    index: str
    text: str
    style: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class Answer:
    question: Question
    mode: str
    ranked: tuple[str, ...]  # document ids, best first
    pinned: int  # hits put first because the question names their document

    def recall(self, k: int) -> float:
        return len(self.question.relevant & set(self.ranked[:k])) / len(self.question.relevant)

    @property
    def reciprocal_rank(self) -> float:
        return next((1 / n for n, doc in enumerate(self.ranked, 1) if doc in self.question.relevant), 0.0)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    raw = yaml.safe_load(path.read_text())
    return [
        Question(index, item["q"], item["style"], frozenset(item["relevant"]))
        for index, items in raw.items()
        for item in items
    ]


def _eip_subset(questions: Sequence[Question], target: Path) -> int:
    """Links to the Final Core EIPs and every EIP a question names, in a folder of their own."""
    documents = load_corpus("eip", support.CORPORA / "eips", {})
    wanted = {doc for q in questions if q.index == "eips" for doc in q.relevant}
    chosen = [
        d
        for d in documents
        if d.id in wanted or (d.metadata.get("category") == "Core" and d.metadata.get("status") == "Final")
    ]
    target.mkdir()
    for document in chosen:
        (target / document.source).symlink_to(support.CORPORA / "eips" / document.source)
    return len(chosen)


def _check_labels(questions: Sequence[Question], app: RunningApp) -> None:
    """Every labelled document exists in its index: a typo would silently cost recall."""
    for q in questions:
        ids = {d.id for d in app.manager.slots[q.index].documents}
        missing = sorted(q.relevant - ids)
        if missing:
            raise ValueError(f"question {q.text!r}: no document {', '.join(missing)} in index {q.index}")


@contextlib.asynccontextmanager
async def _server(eips: Path) -> AsyncIterator[RunningApp]:
    async with support.fresh_proxy(MODEL, STARTUP_TIMEOUT) as proxy:
        folders = {name: support.CORPORA / folder for name, (_, folder) in INDEXES.items()}
        folders["eips"] = eips
        raw = {
            "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
            # One batch at a time with a long timeout: the bundled provider embeds one batch at a
            # time anyway, and on a busy machine a queued batch must not time out and be sent again.
            "embeddings": {
                "url": proxy.url,
                "model": MODEL,
                "batch_size": 32,
                "concurrency": 1,
                "batch_timeout_seconds": 900.0,
            },
            "watcher": {"interval_seconds": 3600.0},
            "cache": {"path": str(CACHE)},
            "index": [
                {"name": name, "kind": kind, "path": str(folders[name])}
                for name, (kind, _) in INDEXES.items()
            ],
        }
        async with running(parse_config(raw, ROOT, env={})) as app:
            await asyncio.wait_for(app.watcher.settled.wait(), BUILD_TIMEOUT)
            yield app


async def _ask(stub: search_pb2_grpc.SearchServiceStub, question: Question, mode: str) -> Answer:
    request = search_pb2.SearchRequest(
        query=question.text, indexes=[question.index], top_k=TOP_K, mode=MODES[mode]
    )
    response = await stub.Search(request)
    ranked = tuple(hit.document_id for hit in response.hits)
    return Answer(question, mode, ranked, sum(hit.pinned for hit in response.hits))


async def evaluate(questions: Sequence[Question]) -> tuple[list[Answer], dict[str, int]]:
    """Every question in every mode; also the documents and chunks of each index."""
    with tempfile.TemporaryDirectory(prefix="semsearch-relevance-") as tmp:
        eips = Path(tmp) / "eips"
        await asyncio.to_thread(_eip_subset, questions, eips)
        async with _server(eips) as app:
            _check_labels(questions, app)
            sizes = {f"{name} documents": len(slot.documents) for name, slot in app.manager.slots.items()} | {
                f"{name} chunks": len(slot.chunks) for name, slot in app.manager.slots.items()
            }
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                stub = search_pb2_grpc.SearchServiceStub(channel)
                answers = [await _ask(stub, q, mode) for q in questions for mode in MODES]
    return answers, sizes


# -- the report ----------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _scores(answers: Sequence[Answer]) -> list[float]:
    return [
        *(_mean([a.recall(k) for a in answers]) for k in CUTOFFS),
        _mean([a.reciprocal_rank for a in answers]),
    ]


def _rows(answers: Sequence[Answer], groups: dict[str, Sequence[Question]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for group, members in groups.items():
        wanted = set(map(id, members))
        for mode in MODES:
            mine = [a for a in answers if a.mode == mode and id(a.question) in wanted]
            rows.append(
                [group if mode == "DENSE" else "", len(members), mode, *(f"{s:.3f}" for s in _scores(mine))]
            )
    return rows


def _verdict(answers: Sequence[Answer], groups: dict[str, Sequence[Question]]) -> list[str]:
    """Where HYBRID recall@3 falls below the better single mode, and on which questions."""
    lines = []
    for group, members in groups.items():
        wanted = set(map(id, members))
        at3 = {
            mode: _mean([a.recall(3) for a in answers if a.mode == mode and id(a.question) in wanted])
            for mode in MODES
        }
        best = max(at3["DENSE"], at3["LEXICAL"])
        mark = "≥" if at3["HYBRID"] >= best - 1e-9 else "<"
        lines.append(f"- **{group}**: HYBRID {at3['HYBRID']:.3f} {mark} max(DENSE, LEXICAL) {best:.3f}")
    by_question: dict[int, dict[str, Answer]] = {}
    for a in answers:
        by_question.setdefault(id(a.question), {})[a.mode] = a
    losses = []
    for modes in by_question.values():
        hybrid, dense, lexical = modes["HYBRID"], modes["DENSE"], modes["LEXICAL"]
        if hybrid.recall(3) < max(dense.recall(3), lexical.recall(3)):
            q = hybrid.question
            losses.append(
                f"  - {q.index}, {q.style}: “{q.text}” — recall@3 dense {dense.recall(3):.2f}, "
                f"lexical {lexical.recall(3):.2f}, hybrid {hybrid.recall(3):.2f}"
            )
    if losses:
        lines.append("- Questions where HYBRID recall@3 is below the better single mode:")
        lines.extend(losses)
    return lines


def body(answers: Sequence[Answer], questions: Sequence[Question], sizes: dict[str, int]) -> str:
    groups: dict[str, Sequence[Question]] = {"all": questions}
    for index in INDEXES:
        groups[index] = [q for q in questions if q.index == index]
    for style in ("paraphrase", "term", "name"):
        groups[f"style: {style}"] = [q for q in questions if q.style == style]
    pinned = sum(a.pinned > 0 for a in answers if a.mode == "HYBRID")
    headers = ["questions", "n", "mode", *(f"recall@{k}" for k in CUTOFFS), "MRR"]
    index_sizes = ", ".join(
        f"{name} {sizes[name + ' documents']} documents / {sizes[name + ' chunks']} chunks"
        for name in INDEXES
    )
    intro = (
        f"{len(questions)} labelled questions ([`bench/relevance_questions.yaml`]"
        "(bench/relevance_questions.yaml)) over the real corpora, each searched in its own index "
        f"through the gRPC server, top {TOP_K}, one hit per document, with `{MODEL}`. "
        f"Indexes: {index_sizes}. Recall@k is the share of a question's labelled documents among the "
        "first k hits, averaged over questions; MRR is the mean of 1 / rank of the first labelled "
        "document (0 when none is in the top 10). HYBRID fuses the top max(50, top_k) of each signal "
        "by reciprocal rank fusion (k = 60); LEXICAL and HYBRID pin documents a question names (it "
        f"happened for {pinned} questions in HYBRID)."
    )
    return "\n\n".join(
        [
            intro,
            table(headers, _rows(answers, groups)),
            "HYBRID against the better of the two single modes on recall@3:",
            "\n".join(_verdict(answers, groups)),
        ]
    )


async def run() -> Section:
    missing = support.corpora_missing(*(folder for _, folder in INDEXES.values()))
    if missing is not None:
        return Section(TITLE, missing)
    questions = load_questions()
    answers, sizes = await evaluate(questions)
    return Section(TITLE, body(answers, questions, sizes))


async def _main() -> None:
    section = await run()
    print(f"## {section.title}\n\n{section.body}")


if __name__ == "__main__":
    print("bench: relevance ...", file=sys.stderr, flush=True)
    asyncio.run(_main())

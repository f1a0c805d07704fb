"""Relevance: recall@1/@3/@10 and MRR of DENSE, LEXICAL and HYBRID search with e5-small.

The questions and the documents that answer them are in ``bench/relevance_questions.yaml``, over
the four real corpora in ``../shared/corpora``, indexed whole (every EIP). The headline is what
most users do: one search over every index at once (no ``indexes`` in the request), through the
real gRPC server, top 10, one hit per document. Each question is also searched in its own index
alone, as a second table. The questions are split once, by a hash of their text, into a tuning
half and a held-out half (``half_of``): ranking choices are made on the tuning half
(``python -m bench.relevance_tuning``, whose table of the main variants is part of the section),
and both halves are reported. The section ends with what the ranking costs in search latency
(``bench.relevance_latency``).

Vectors are kept in ``.bench-cache/relevance-e5-small.sqlite`` (outside git), so a second run
embeds nothing but the questions; a cold cache takes about 30 minutes on two cores.

``python -m bench.relevance`` runs it alone and prints the section; ``python -m bench relevance``
runs it and rewrites its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench import relevance_latency, relevance_tuning, support
from bench.relevance_labels import MODES, OWN, POOLED, TOP_K, Answer, Question, load_questions
from bench.relevance_latency import Latency
from bench.relevance_report import body
from bench.report import ROOT, Section
from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import parse_config

TITLE = "Relevance: dense, lexical and hybrid search (e5-small)"
CACHE = ROOT / ".bench-cache" / "relevance-e5-small.sqlite"
MODEL = "e5-small"
STARTUP_TIMEOUT = 120.0
BUILD_TIMEOUT = 4 * 3600.0  # a cold cache on two busy cores
REQUEST_MODES = {
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


def check_labels(questions: Sequence[Question], app: RunningApp) -> None:
    """Every labelled document exists in its index: a typo would silently cost recall."""
    ids = {name: {d.id for d in slot.documents} for name, slot in app.manager.slots.items()}
    for q in questions:
        missing = sorted(f"{index}:{doc}" for index, doc in q.relevant if doc not in ids.get(index, ()))
        if missing:
            raise ValueError(f"question {q.text!r}: no document {', '.join(missing)}")


def index_sizes(app: RunningApp) -> dict[str, tuple[int, int]]:
    return {
        name: (len(slot.documents), sum(len(d.chunks) for d in slot.documents))
        for name, slot in app.manager.slots.items()
    }


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[RunningApp]:
    """The server over the four corpora, every index READY; vectors from (and into) ``CACHE``."""
    async with support.fresh_proxy(MODEL, STARTUP_TIMEOUT) as proxy:
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
                {"name": name, "kind": kind, "path": str(support.CORPORA / folder)}
                for name, (kind, folder) in INDEXES.items()
            ],
        }
        async with running(parse_config(raw, ROOT, env={})) as app:
            await asyncio.wait_for(app.watcher.settled.wait(), BUILD_TIMEOUT)
            yield app


async def _ask(stub: search_pb2_grpc.SearchServiceStub, question: Question, mode: str, scope: str) -> Answer:
    indexes = [question.index] if scope == OWN else []
    request = search_pb2.SearchRequest(
        query=question.text, indexes=indexes, top_k=TOP_K, mode=REQUEST_MODES[mode]
    )
    response = await stub.Search(request)
    ranked = tuple((hit.index, hit.document_id) for hit in response.hits)
    return Answer(question, mode, scope, ranked, sum(hit.pinned for hit in response.hits))


@dataclass(frozen=True)
class Evaluation:
    answers: list[Answer]  # every question in every mode, pooled and in its own index
    sizes: dict[str, tuple[int, int]]  # index -> (documents, chunks)
    tuning: str  # the fusion variants on the tuning half (bench.relevance_tuning)
    latency: Latency  # what the ranking costs (bench.relevance_latency)


async def evaluate(questions: Sequence[Question]) -> Evaluation:
    """Every question in every mode, pooled and in its own index, then the tuning and latency
    comparisons on the same server."""
    async with serving() as app:
        check_labels(questions, app)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = search_pb2_grpc.SearchServiceStub(channel)
            answers = [
                await _ask(stub, q, mode, scope)
                for scope in (POOLED, OWN)
                for q in questions
                for mode in MODES
            ]
        tuning = await relevance_tuning.report(app)
        return Evaluation(answers, index_sizes(app), tuning, await relevance_latency.measure(app, questions))


def save_answers(answers: Sequence[Answer], path: Path) -> None:
    """The ranked documents of every answer, for comparing two runs (e.g. before and after a change)."""
    rows = [
        {
            "q": a.question.text,
            "index": a.question.index,
            "style": a.question.style,
            "half": a.question.half,
            "relevant": sorted(f"{i}:{d}" for i, d in a.question.relevant),
            "mode": a.mode,
            "scope": a.scope,
            "ranked": [f"{i}:{d}" for i, d in a.ranked],
            "pinned": a.pinned,
        }
        for a in answers
    ]
    path.write_text(json.dumps(rows, indent=1))


async def run(answers_path: Path | None = None) -> Section:
    missing = support.corpora_missing(*(folder for _, folder in INDEXES.values()))
    if missing is not None:
        return Section(TITLE, missing)
    questions = load_questions()
    found = await evaluate(questions)
    if answers_path is not None:
        save_answers(found.answers, answers_path)
    return Section(TITLE, body(found.answers, questions, found.sizes, found.tuning, found.latency.text()))


async def _main(answers_path: Path | None) -> None:
    section = await run(answers_path)
    print(f"## {section.title}\n\n{section.body}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.relevance", description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=Path, help="also write every answer's ranking to this JSON file")
    args = parser.parse_args()
    print("bench: relevance ...", file=sys.stderr, flush=True)
    asyncio.run(_main(args.answers))

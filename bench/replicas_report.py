"""The markdown of the replicas benchmark: its tables and the notes that read them."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from bench.replicas import (
    EDITED,
    IDLE_SECONDS,
    MODEL,
    PLAN,
    POLL_SECONDS,
    POOL_SIZE,
    REPLICAS,
    WARM_REPEATS,
    LocalRound,
    Result,
    Round,
    WarmStart,
)
from bench.report import ratio, secs, table

PER = 10_000  # loads are given per this many chunks


def body(r: Result) -> str:
    parts = [
        _setup(r),
        "### A new generation reaching every replica\n\n" + _propagation(r),
        "### Loading a generation\n\n" + _loads(r),
        "### Warm start: a replica from PostgreSQL, a server from its SQLite cache\n\n" + _warm(r),
        "### What the replicas ask of PostgreSQL and of memory\n\n" + _resources(r),
    ]
    return "\n\n".join(parts)


def _setup(r: Result) -> str:
    reindex, edits = PLAN.count("reindex"), PLAN.count("edit")
    return (
        f"{REPLICAS} `semsearch serve` processes on one PostgreSQL 18 + pgvector (the embedded one, "
        f"durable: fsync on) and one `semsearch proxy` serving `{MODEL}`, so replication is measured, "
        f"not embedding. The EIP corpus: {r.documents} documents, {r.chunks:,} chunks. Default "
        f"`[store]` settings (`pool_size = {POOL_SIZE}`, `poll_seconds = {POLL_SECONDS}`). The first "
        f"replica takes the indexer lease and builds ({secs(r.indexer_cold)}, embedding every chunk); "
        f"the others load what it stored. Then {reindex} Reindex rounds with the sources unchanged "
        f"and {edits} after appending a paragraph to `{EDITED}` (a new text: the followers build "
        f"their BM25 index again; an unchanged one is reused), each asked of the indexer and awaited "
        f"on every replica before the next. The local backend (one in-process server, the SQLite "
        f"cache) ran the same rounds first. Times across processes are wall-clock (log lines have "
        f"millisecond resolution); the swap commit is `current_generations.changed_at`. Load "
        f"average at start: {r.load_average} on 2 cores, so absolute times are inflated by other work."
    )


def _stats(values: Sequence[float]) -> tuple[str, str]:
    if not values:
        return "n/a", "n/a"
    return secs(statistics.median(values)), secs(max(values))


def _propagation(r: Result) -> str:
    headers = ["measurement", "unchanged: median", "max", "edited: median", "max"]

    def row(
        label: str, local: Callable[[LocalRound], float] | None, remote: Callable[[Round], float] | None
    ) -> list[str]:
        cells = [label]
        for kind in ("reindex", "edit"):
            if local is not None:
                cells += _stats([local(x) for x in r.local_rounds if x.kind == kind])
            elif remote is not None:
                cells += _stats([remote(x) for x in r.rounds if x.kind == kind])
        return cells

    rows = [
        row("local backend: Reindex asked → the new generation serves", lambda x: x.seconds, None),
        row(
            "replicas: Reindex asked → swap commit on the indexer", None, lambda x: x.committed - x.requested
        ),
        row(
            "swap commit → the READY event written to the shared log", None, lambda x: x.logged - x.committed
        ),
        row("swap commit → the indexer serves it", None, lambda x: x.indexer - x.committed),
        row(
            "swap commit → each follower serves it",
            None,
            lambda x: statistics.median(x.followers) - x.committed,
        ),
        row("**swap commit → every replica serves it**", None, lambda x: x.everywhere),
        row(
            "Reindex asked → every replica serves it",
            None,
            lambda x: x.everywhere + x.committed - x.requested,
        ),
    ]
    counts = f"{PLAN.count('reindex')} unchanged and {PLAN.count('edit')} edited rounds"
    return (
        table(headers, rows)
        + f'\n\nMedian and max over {counts}; "each follower" is the median of the followers in a '
        "round. A follower hears of the new generation when the READY event commits (LISTEN/NOTIFY, "
        f"polled every {POLL_SECONDS:g} s without one), then reads it back, builds what it needs and swaps."
    )


def _per(seconds: float, chunks: int) -> str:
    return f"{seconds * PER / chunks:.2f} s" if chunks else "n/a"


def _loads(r: Result) -> str:
    rows: list[list[str]] = []

    def add(label: str, loads: Sequence[tuple[int, float, float | None]]) -> None:
        if loads:
            seconds = statistics.median(s for _, s, _ in loads)
            lexical = [x for _, _, x in loads if x is not None]
            bm25 = secs(statistics.median(lexical)) if lexical else "n/a"
            rows.append([label, f"{len(loads)}", secs(seconds), bm25, _per(seconds, loads[0][0])])

    def of(kind: str) -> list[tuple[int, float, float | None]]:
        return [
            (int(e["chunks"]), float(e["seconds"]), lexical)
            for x in r.rounds
            if x.kind == kind
            for e, lexical in zip(x.loads, x.lexical, strict=True)
        ]

    add("a follower joins: its first load", [(int(e["chunks"]), float(e["seconds"]), x) for e, x in r.joins])
    add("a round, sources unchanged (BM25 reused)", of("reindex"))
    add("a round after an edit (BM25 built again)", of("edit"))
    add(
        "a replica's warm start",
        [(r.chunks, w.load_seconds, w.lexical_seconds) for w in r.replica_warm if w.load_seconds is not None],
    )
    headers = [
        "a replica's `generation_loaded` (read back + build + swap)",
        "loads",
        "median",
        "of which BM25",
    ]
    loads = table([*headers, f"per {PER:,} chunks"], rows)
    s = r.stages
    if s is None:
        return loads
    parts = [
        ("PostgreSQL: `read_generation` (chunks, documents, vectors)", s.pg_read),
        ("BM25 index of every chunk (`LexicalIndex`)", s.lexical),
        ("vector index over the matrix (`VectorIndex`)", s.vector),
        ("PostgreSQL: `put_generation` (binary COPY; the indexer, per build)", s.pg_put),
        ("PostgreSQL: the shared embedding cache, every chunk's vector", s.pg_cache_lookup),
        (
            f"local backend: the SQLite cache, every chunk's vector ({s.sqlite_hits:,} found)",
            s.sqlite_cache_lookup,
        ),
    ]
    stages = table(
        [
            f"step, in isolation (median of {s.repeats})",
            "wall",
            f"wall per {PER:,} chunks",
            "CPU of the thread",
        ],
        [[label, secs(t.wall), _per(t.wall, s.chunks), secs(t.cpu)] for label, t in parts],
    )
    return (
        loads + "\n\nA first load builds the BM25 index; a load in a round reuses it when the chunks are "
        "unchanged. The followers load at the same moment (after an edit the indexer builds its own "
        "BM25 index meanwhile too), so on 2 shared cores their wall times include waiting for a core: "
        "the CPU column below is the figure that does not depend on the machine's load.\n\n"
        + stages
        + f"\n\nThe steps ran alone in the benchmark process on the generation the replicas served "
        f"({s.chunks:,} chunks × {s.dimensions} dimensions). The CPU column is the benchmark thread's "
        "own CPU time, which other load on the machine does not inflate (PostgreSQL's part of a read "
        "or a write is not in it). A replica's load is the read, the BM25 index unless the text is "
        "unchanged, and the vector index; a local-backend server's warm start reads its vectors "
        "from the SQLite cache instead of the first step and builds the same two indexes."
    )


def _warm_cells(starts: Sequence[WarmStart]) -> list[str]:
    serving = [w.serving for w in starts]
    rest = [w.serving - w.corpus_loaded for w in starts]
    return [secs(statistics.median(serving)), secs(min(serving)), secs(statistics.median(rest))]


def _warm(r: Result) -> str:
    if not r.local_warm or not r.replica_warm:
        return "n/a"
    local = statistics.median(w.serving for w in r.local_warm)
    replica = statistics.median(w.serving for w in r.replica_warm)
    rows = [
        ["local backend: start → every index READY (SQLite cache)", *_warm_cells(r.local_warm), "1.00×"],
        [
            "replica: start → every index served (PostgreSQL)",
            *_warm_cells(r.replica_warm),
            ratio(replica, local),
        ],
    ]
    return (
        table(["warm start", "median", "fastest", "median after the corpus is read", "vs local"], rows)
        + f"\n\n{WARM_REPEATS} starts each, in the benchmark process, the corpus read from disk by both "
        "(a replica keeps its own sources so that it can take the lease). The replica joins the running "
        "deployment (the indexer keeps the lease) and serves what PostgreSQL holds; the local server "
        "embeds nothing either, finding every vector in its cache, but probes the provider first. "
        "Both build the BM25 index of every chunk. On shared cores the median of a few starts varies: "
        "compare the fastest too."
    )


def _mib(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


def _resources(r: Result) -> str:
    rows: list[list[str]] = []
    ceiling = REPLICAS * (POOL_SIZE + 2)
    rows.append(
        [
            f"connections of the {REPLICAS} replicas, most at once (sampled every 100 ms during the rounds)",
            f"{r.connections} (ceiling {REPLICAS} × ({POOL_SIZE} + 2) = {ceiling})",
        ]
    )
    followers = REPLICAS - 1
    rows.append(
        [
            f"sessions opened per second by the idle replicas (over {IDLE_SECONDS:g} s)",
            f"{r.opened_per_second:.1f} ({followers} followers, poll every {POLL_SECONDS:g} s)",
        ]
    )
    for name, (rss, peak) in r.memory_kib.items():
        now, most = ("n/a" if kib is None else _mib(kib * 1024) for kib in (rss, peak))
        rows.append([f"memory of {name} at the end: RSS (peak)", f"{now} ({most})"])
    d = r.database
    if d is not None and d.chunks:
        builds = 1 + len(r.rounds)
        rows += [
            ["a generation in the database (chunk and document rows with indexes)", _mib(d.generation_bytes)],
            [
                "… per chunk (the row alone: text, body, metadata, vector)",
                f"{d.chunk_row_bytes / d.chunks:,.0f} B",
            ],
            ["… per chunk (with indexes and pages)", f"{d.generation_bytes / d.chunks:,.0f} B"],
            [
                f"the embedding cache ({d.cache_rows:,} vectors, with its index)",
                f"{_mib(d.cache_bytes)}, {d.cache_bytes / max(d.cache_rows, 1):,.0f} B each",
            ],
            [
                f"the shared log: {d.events:,} events after {builds} builds (the table, one event)",
                f"{d.events_bytes / 1024:,.0f} KiB, {d.event_bytes / 1024:,.1f} KiB",
            ],
            [
                "the database as the rounds left it → after VACUUM FULL",
                f"{_mib(d.database_bytes_before)} → {_mib(d.database_bytes)}",
            ],
        ]
    f = r.footprint
    if f is not None and f.chunks:
        rows += [
            [
                f"memory per chunk: documents and chunks as loaded "
                f"({f.text_characters / f.chunks:,.0f} characters of text and body)",
                f"{f.per_chunk(f.documents):,.0f} B",
            ],
            [
                "memory per chunk: the BM25 index (with identifiers and metadata postings)",
                f"{f.per_chunk(f.lexical):,.0f} B",
            ],
            [
                "memory per chunk: the vector index besides its matrix",
                f"{f.per_chunk(f.vector_extras):,.0f} B",
            ],
        ]
    return (
        table(["figure", "value"], rows)
        + "\n\nMemory per chunk is traced with `tracemalloc` while the EIP corpus is loaded and indexed "
        "in the benchmark process; the matrix itself is chunks × dimensions × 4 bytes. A follower "
        "holds the documents twice"
        + (f" (traced at {_mib(f.documents)} here)" if f is not None else "")
        + ": its own read of the corpus (kept so that it can take the lease) and the generation read "
        "back; the rest of the followers' RSS above the indexer's is not broken down here. Database "
        "sizes are read after `VACUUM FULL`; before it, the rows of the generations each round "
        "replaced were still on disk." + f" Load average at the end of the run: {r.load_average_end}."
    )

"""The command line's pure parts: labels, tables, the watch view and the reindex bookkeeping.

Rendered at a fixed width with rich's own console, exactly as the commands render them.
"""

from __future__ import annotations

from rich.text import Text

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.console.labels import age, bar, space_label
from semsearch.console.output import PLAIN_WIDTH, render_text
from semsearch.console.rebuild_wait import RebuildWait
from semsearch.console.tables import hits_view, indexes_table
from semsearch.console.watch_render import render_watch
from semsearch.console.watch_view import WatchView
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.embeddings.space import PROBE_TEXT
from semsearch.proxy.hashing import hash_embed

READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)
NOW = 1_800_000_000.0


def probe(model: str) -> list[float]:
    return [float(x) for x in hash_embed([PROBE_TEXT], model)[0]]


def space(model: str = "hash-v1") -> types_pb2.EmbeddingSpace:
    """A space as the server names it outside GetEmbeddingSpace: digests, no vectors."""
    return types_pb2.EmbeddingSpace(
        model=model, dimensions=384, fingerprint_digest=fingerprint_digest(probe(model))
    )


def index(name: str, state: int, generation: int = 1, **fields: object) -> types_pb2.Index:
    ix = types_pb2.Index(name=name, kind="markdown", state=state, generation=generation, **fields)  # type: ignore[arg-type]
    ix.state_since.FromSeconds(int(NOW) - 75)
    return ix


def event(ix: types_pb2.Index, previous: int, reason: str, sequence: int) -> admin_pb2.WatchIndexesResponse:
    message = admin_pb2.WatchIndexesResponse(
        sequence=sequence,
        event=admin_pb2.IndexEvent(
            index=ix.name, previous_state=previous, state=ix.state, reason=reason, current=ix
        ),
    )
    message.event.time.FromSeconds(int(NOW))
    return message


def snapshot(*indexes: types_pb2.Index) -> admin_pb2.WatchIndexesResponse:
    return admin_pb2.WatchIndexesResponse(sequence=1, snapshot=admin_pb2.IndexSnapshot(indexes=indexes))


def test_a_space_reads_as_model_dimensions_and_the_start_of_its_fingerprint_digest() -> None:
    v1 = space("hash-v1")
    assert space_label(v1) == f"hash-v1/384@{v1.fingerprint_digest[:6]}"
    assert space_label(space("hash-v2")) != space_label(v1)
    # A server older than the digests sent the vector: it reads the same.
    older = types_pb2.EmbeddingSpace(model="hash-v1", dimensions=384, fingerprint=probe("hash-v1"))
    assert space_label(older) == space_label(v1)
    assert space_label(types_pb2.EmbeddingSpace(model="hash-v1", dimensions=384)) == "hash-v1/384"
    assert space_label(None) == "-"


def test_ages_read_compactly() -> None:
    assert [age(NOW - s, NOW) for s in (0.2, 42, 185, 7500, 3 * 86400)] == [
        "just now",
        "42s ago",
        "3m 5s ago",
        "2h 5m ago",
        "3d ago",
    ]
    assert age(0, NOW) == "-"


def test_the_plain_indexes_table_is_a_header_and_one_line_per_index_with_the_state_third() -> None:
    rebuilding = index(
        "eips",
        REBUILDING,
        0,
        progress=types_pb2.RebuildProgress(chunks_done=288, chunks_total=1024),
        last_error="provider failed: HTTP 500 after 4 retries, and a long explanation " * 3,
    )
    table = indexes_table([index("runbooks", READY, space=space()), rebuilding], NOW, boxed=False)
    lines = render_text(table, PLAIN_WIDTH).splitlines()
    assert lines[0].split() == [
        "INDEX",
        "KIND",
        "STATE",
        "SPACE",
        "GEN",
        "DOCS",
        "CHUNKS",
        "SINCE",
        "LAST",
        "ERROR",
    ]
    assert len(lines) == 3  # nothing wraps, however long the error
    assert [line.split()[2] for line in lines[1:]] == ["READY", "REBUILDING"]
    assert "REBUILDING 288/1024" in lines[2] and "1m 15s ago" in lines[1]


def test_user_text_prints_as_is_never_as_markup() -> None:
    response = search_pb2.SearchResponse(
        hits=[
            search_pb2.SearchHit(
                index="runbooks", title="[bold]Draft[/bold]", snippet="a [red]b[/]", score=0.5
            )
        ],
        query_space=space(),
    )
    for boxed in (True, False):
        text = render_text(hits_view(response, "[x]", boxed=boxed), 120)
        assert "[bold]Draft[/bold]" in text and "a [red]b[/]" in text and "“[x]”" in text


def test_a_progress_bar_reads_without_colour() -> None:
    assert bar(0, 13, 10).plain == "─" * 10
    assert bar(8, 13, 10).plain == "━" * 6 + "─" * 4
    assert bar(13, 13, 10).plain == "━" * 10
    assert isinstance(bar(1, 0), Text) and bar(1, 0, 4).plain == "━" * 4


def test_the_watch_view_takes_progress_only_from_a_listing_that_agrees_with_the_stream() -> None:
    view = WatchView("t")
    view.apply(snapshot(index("a", READY), index("b", PARKED)), NOW)
    rebuilding = index("b", REBUILDING, progress=types_pb2.RebuildProgress(chunks_total=13))
    view.apply(event(rebuilding, PARKED, "rebuilding in hash-v2/384", 2), NOW)
    polled = [
        index("a", REBUILDING, progress=types_pb2.RebuildProgress(chunks_done=5, chunks_total=9)),  # stale
        index("b", REBUILDING, progress=types_pb2.RebuildProgress(chunks_done=8, chunks_total=13)),
    ]
    assert view.apply_progress(polled)
    assert view.indexes["a"].state == READY and not view.indexes["a"].HasField("progress")
    assert view.indexes["b"].progress.chunks_done == 8
    assert not view.apply_progress(polled)  # nothing new
    text = render_text(render_watch(view, NOW), 120)
    assert any(
        line.startswith("b ") and "━" in line and "8/13 chunks  61%" in line for line in text.splitlines()
    )


def test_a_broken_stream_is_logged_once_and_retries_are_counted() -> None:
    view = WatchView("127.0.0.1:1")
    view.apply(snapshot(index("a", READY)), NOW)
    for attempt in range(3):
        view.disconnected("connection refused", NOW + attempt, NOW + attempt + 0.5)
    text = render_text(render_watch(view, NOW + 2), 120)
    assert text.count("stream broken: connection refused") == 1
    assert "reconnecting… in 0.5s (connection refused, 2 failed)" in text
    view.apply(snapshot(index("a", READY)), NOW + 3)
    text = render_text(render_watch(view, NOW + 3), 120)
    assert "● live (message 1)" in text and "fresh snapshot of 1 indexes" in text
    assert [line.reason for line in view.since(1)] == ["fresh snapshot of 1 indexes"]


def test_reindex_wait_is_done_on_a_newer_generation_and_failed_only_by_failures_after_the_request() -> None:
    view, wait = WatchView("t"), RebuildWait()
    view.apply(snapshot(index("a", PARKED, last_error="old failure"), index("b", READY)), NOW)
    old_failure = event(index("a", PARKED, last_error="old failure"), REBUILDING, "rebuild failed", 2)
    wait.observe(old_failure)  # before the request went out: not ours
    wait.armed = True
    response = admin_pb2.ReindexResponse(indexes=[index("a", PARKED, 1), index("b", READY, 1)])
    assert wait.outcome(view.indexes) is None  # not accepted yet
    wait.accepted(response)
    view.apply(event(index("b", READY, 2), READY, "reindexed: test", 3), NOW)
    assert wait.outcome(view.indexes) is None  # a is still pending
    rebuilding = event(index("a", REBUILDING, 1, last_error="old failure"), PARKED, "rebuilding", 4)
    wait.observe(rebuilding)  # a leftover last_error on a transition is no new failure
    view.apply(rebuilding, NOW)
    assert wait.outcome(view.indexes) is None
    failed = event(
        index("a", PARKED, 1, last_error="provider failed: HTTP 500"), REBUILDING, "rebuild failed", 5
    )
    wait.observe(failed)
    view.apply(failed, NOW)
    assert wait.outcome(view.indexes) == "failed" and wait.failures == {"a": "provider failed: HTTP 500"}
    rebuilt = event(index("a", READY, 2), REBUILDING, "rebuilt", 6)
    wait.observe(rebuilt)
    view.apply(rebuilt, NOW)
    assert wait.outcome(view.indexes) == "rebuilt"

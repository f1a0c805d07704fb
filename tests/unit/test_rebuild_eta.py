"""A rebuild's pace and time left: measured by the builder, sent in RebuildProgress, shown by
`status` (in STATE) and `watch` (beside each progress bar)."""

from __future__ import annotations

import httpx
import pytest

from semsearch.api.v1 import types_pb2
from semsearch.console.output import PLAIN_WIDTH, render_text
from semsearch.console.pace import duration, pace, time_left
from semsearch.console.tables import indexes_table
from semsearch.console.watch_render import render_watch
from semsearch.console.watch_view import WatchView
from semsearch.corpus import load_corpus
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, probe_space
from semsearch.lifecycle import Progress
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.pace import WINDOW, Pace
from semsearch.proxy.app import create_app
from semsearch.service.convert import progress as progress_message
from tests.support.corpora import FIXTURE_CORPORA
from tests.unit.test_cli_render import NOW, READY, REBUILDING, index, snapshot, space
from tests.unit.test_cli_render_width import WIDTH, assert_fits


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_the_pace_is_chunks_per_second_over_the_latest_batches() -> None:
    clock = Clock()
    pace_ = Pace(1000, clock)
    assert pace_.rate == 0.0 and pace_.seconds_left is None  # nothing answered yet
    clock.now += 10.0  # waited for a smaller build first...
    pace_.embedded(20)
    assert pace_.rate == pytest.approx(2.0) and pace_.seconds_left == pytest.approx(490.0)
    for _ in range(WINDOW):  # ...then 20 chunks a second
        clock.now += 1.0
        pace_.embedded(20)
    assert pace_.rate == pytest.approx(20.0)  # the wait is out of the window
    assert pace_.remaining == 1000 - 20 * (WINDOW + 1)
    assert pace_.seconds_left == pytest.approx(pace_.remaining / 20.0)


def test_nothing_left_is_zero_seconds_left() -> None:
    pace_ = Pace(0, Clock())
    assert pace_.seconds_left == 0.0


async def test_a_build_reports_its_pace_with_each_batch() -> None:
    chunks = [c for d in load_corpus("markdown", FIXTURE_CORPORA / "markdown", {}) for c in d.chunks]
    provider = EmbeddingProvider(
        "http://provider.test/v1",
        "hash-v1",
        transport=httpx.ASGITransport(app=create_app("hash-v1")),
        batch_size=4,
    )
    space: EmbeddingSpace = await probe_space(provider)
    seen: list[Progress] = []
    await build_index(chunks, provider, space, on_progress=seen.append)
    await provider.aclose()
    assert seen[0] == Progress(0, len(chunks), 0)  # not measured yet: no rate, no estimate
    assert all(p.rate > 0 and p.seconds_left is not None for p in seen[1:])
    assert seen[-1].done == len(chunks) and seen[-1].seconds_left == 0.0


def test_the_message_carries_the_pace_and_an_estimate_only_when_known() -> None:
    known = progress_message(Progress(10, 40, 2, rate=12.5, seconds_left=2.4))
    assert known.chunks_per_second == pytest.approx(12.5) and known.HasField("seconds_left")
    assert known.seconds_left == pytest.approx(2.4)
    unknown = progress_message(Progress(0, 40))
    assert unknown.chunks_per_second == 0 and not unknown.HasField("seconds_left")


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(0.4, "0s"), (45, "45s"), (130, "2m10s"), (3900, "1h05m"), (100_000, "1d03h")],
)
def test_durations_read_compactly(seconds: float, label: str) -> None:
    assert duration(seconds) == label


def rebuilding(done: int, total: int, rate: float = 0.0, left: float | None = None) -> types_pb2.Index:
    progress = types_pb2.RebuildProgress(chunks_done=done, chunks_total=total, chunks_per_second=rate)
    if left is not None:
        progress.seconds_left = left
    return index("eips", REBUILDING, 0, progress=progress, chunk_count=total)


def test_the_pace_label_says_what_is_known() -> None:
    assert pace(rebuilding(0, 100).progress) == ""
    assert pace(rebuilding(10, 100, 3.25, 27.7).progress) == "3.2/s · ~28s left"
    assert pace(rebuilding(10, 100, 42.0, 130).progress) == "42/s · ~2m10s left"
    assert time_left(rebuilding(100, 100, 42.0, 0).progress) == ""  # done: nothing to wait for


def test_status_shows_the_time_left_in_the_state() -> None:
    table = indexes_table(
        [index("guide", READY, space=space()), rebuilding(288, 1024, 24, 30)], NOW, boxed=False
    )
    lines = render_text(table, PLAIN_WIDTH).splitlines()
    assert "REBUILDING 288/1024 ~30s left" in lines[2]
    assert lines[2].split()[2] == "REBUILDING"  # still the third column for scripts
    boxed = render_text(indexes_table([rebuilding(288, 1024, 24, 30)], NOW), WIDTH)
    assert_fits(boxed)
    assert "REBUILDING 288/1024 ~30s left" in boxed


def test_watch_shows_the_pace_beside_the_bar_at_80_columns() -> None:
    view = WatchView("127.0.0.1:50051")
    view.apply(snapshot(index("guide", READY, space=space()), rebuilding(50, 76, 4.0, 6.5)), NOW)
    text = render_text(render_watch(view, NOW), WIDTH)
    assert_fits(text)
    bar_line = next(line for line in text.splitlines() if line.startswith("eips  ━"))
    assert bar_line.endswith("50/76 chunks  65%  0 cached · 4.0/s · ~6s left")

"""The boxed tables at 80 columns: whole headers and names, paths shortened, snippets without markup.

Rendered with rich's own console at a fixed width, exactly as the commands render on a terminal.
"""

from __future__ import annotations

import re

import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.console.labels import short_path, space_label
from semsearch.console.output import render_text
from semsearch.console.snippets import readable_snippet
from semsearch.console.tables import hits_view, indexes_table, space_lines
from semsearch.console.watch_render import render_watch
from semsearch.console.watch_view import WatchView
from tests.unit.test_cli_render import NOW, PARKED, READY, REBUILDING, event, index, snapshot, space

WIDTH = 80
INDEX_HEADERS = {"INDEX", "KIND", "STATE", "SPACE", "GEN", "DOCS", "CHUNKS", "SINCE", "LAST ERROR"}
ERROR = "provider failed: HTTP 503 Service Unavailable after 4 retries, then a connection reset"
MARKDOWN = (
    "## Before you start A **model switch** parks every index: see [the lifecycle]"
    "(../guide/index-lifecycle.md) and run `semsearch status` first. *Nothing* is mixed. "
    "| state | meaning | |---|---| | `PARKED` | not serving |"
)


def indexes() -> list[types_pb2.Index]:
    progress = types_pb2.RebuildProgress(chunks_done=50, chunks_total=76)
    return [
        index("guide", READY, 3, space=space("e5-small"), document_count=12, chunk_count=199),
        index("runbooks", REBUILDING, 2, progress=progress, chunk_count=76, last_error=ERROR),
        index("eips-mainnet-archive", PARKED, 0, document_count=881, chunk_count=10559),
    ]


def header_cells(text: str) -> list[str]:
    """The cells of the first row of a rounded table (the header)."""
    row = next(line for line in text.splitlines() if line.startswith("│"))
    return [cell.strip() for cell in row.strip("│").split("│")]


def assert_fits(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide


@pytest.mark.parametrize("in_state", [True, False])  # status shows progress in STATE, watch in bars
def test_the_status_table_keeps_whole_headers_and_names_and_moves_errors_under_it(in_state: bool) -> None:
    text = render_text(indexes_table(indexes(), NOW, progress_in_state=in_state), WIDTH)
    assert_fits(text)
    headers = header_cells(text)
    assert set(headers) <= INDEX_HEADERS and {"INDEX", "STATE", "SPACE", "SINCE"} <= set(headers), headers
    assert "…" not in text
    assert all(name in text for name in ("guide", "runbooks", "eips-mainnet-archive"))
    assert space_label(space("e5-small")) in text
    assert ("REBUILDING 50/76" in text) is in_state
    flat = " ".join(text.split())  # the error, wrapped at word boundaries, is all there
    assert f"runbooks: {ERROR}" in flat


def test_a_wide_terminal_gets_every_column_and_errors_in_theirs() -> None:
    text = render_text(indexes_table(indexes(), NOW), 160)
    assert header_cells(text) == [
        "INDEX",
        "KIND",
        "STATE",
        "SPACE",
        "GEN",
        "DOCS",
        "CHUNKS",
        "SINCE",
        "LAST ERROR",
    ]
    assert "runbooks:" not in text


def test_the_hits_table_at_80_columns_keeps_headers_strips_markup_and_shortens_paths() -> None:
    response = search_pb2.SearchResponse(
        mode=search_pb2.SEARCH_MODE_HYBRID,
        query_space=space("e5-small"),
        hits=[
            search_pb2.SearchHit(
                index="runbooks",
                title="Switching the embedding model",
                section="Before you start",
                snippet=MARKDOWN,
                source="operators/runbooks/model-changes/switching-models.md",
                score=0.0325,
                dense_rank=1,
                lexical_rank=2,
            ),
            search_pb2.SearchHit(
                index="guide", title="[draft] States", snippet="snake_case stays", source="a.md", pinned=True
            ),
        ],
    )
    text = render_text(hits_view(response, "how do I swap the embedding model safely"), WIDTH)
    assert_fits(text)
    assert header_cells(text) == ["#", "SCORE", "SIGNALS", "INDEX", "HIT"]
    flat = " ".join(line.strip("│ ").replace("│", " ") for line in text.splitlines())
    flat = " ".join(flat.split())
    assert "A model switch parks every index: see the lifecycle and run semsearch status first." in flat
    assert "state · meaning · PARKED · not serving" in flat
    for markup in ("**", "](", "`", "|---", "## "):
        assert markup not in text, markup
    assert "│ …/model-changes/switching-models.md " in text  # runbooks/ would not fit
    assert "[draft] States" in text and "snake_case stays" in text and "pin" in text


def test_the_watch_screen_at_80_columns() -> None:
    view = WatchView("127.0.0.1:50051")
    listed = indexes()
    view.apply(snapshot(*listed), NOW)
    view.apply(event(listed[1], PARKED, "rebuilding in e5-small/384", 2), NOW)
    text = render_text(render_watch(view, NOW), WIDTH)
    assert_fits(text)
    assert set(header_cells(text)) <= INDEX_HEADERS and "…" not in text
    bar_line = next(line for line in text.splitlines() if line.startswith("runbooks  ━"))
    assert bar_line.endswith("50/76 chunks  65%  0 cached")


def test_a_long_index_name_puts_its_progress_bar_on_the_next_line() -> None:
    view = WatchView("t")
    name = "a-very-long-index-name-for-the-archive-of-mainnet"
    progress = types_pb2.RebuildProgress(chunks_done=5, chunks_total=10)
    view.apply(snapshot(index(name, REBUILDING, progress=progress)), NOW)
    lines = render_text(render_watch(view, NOW), WIDTH).splitlines()
    at = lines.index(name)
    assert lines[at + 1].startswith("  ━") and lines[at + 1].endswith("5/10 chunks  50%  0 cached")
    assert len(lines[at + 1]) <= WIDTH


@pytest.mark.parametrize(
    ("snippet", "readable"),
    [
        ("## Setup Run `make run` then **wait**.", "Setup Run make run then wait."),
        (
            "see [the guide](docs/guide.md) and ![a diagram](x.png) <br> <https://x.org/a>",
            "see the guide and a diagram https://x.org/a",
        ),
        (
            "| key | default | |:---|---:| | `listen` | `127.0.0.1:50051` |",
            "key · default · listen · 127.0.0.1:50051",
        ),
        ("```sh make run ``` then _it_ and __bold__ and ~~gone~~", "make run then it and bold and gone"),
        ("Steps: * one * two + three", "Steps: one two three"),
        (
            "snake_case, 2 * 3 = 6, a - b, x > y, C# and \\*literal\\*",
            "snake_case, 2 * 3 = 6, a - b, x > y, C# and *literal*",
        ),
    ],
)
def test_snippets_lose_their_markup_and_keep_their_words(snippet: str, readable: str) -> None:
    assert readable_snippet(snippet) == readable


def test_paths_keep_the_file_name_and_the_closest_folders() -> None:
    assert short_path("docs/runbooks/index-stays-parked.md", 40) == "docs/runbooks/index-stays-parked.md"
    assert short_path("a/b/docs/runbooks/index-stays-parked.md", 34) == "…/runbooks/index-stays-parked.md"
    assert (
        short_path("a/b/index-stays-parked.md#what-to-check", 37) == "…/index-stays-parked.md#what-to-check"
    )
    assert short_path("examples/registry.yaml#clients/3", 30) == "…/registry.yaml#clients/3"
    name = short_path("switching-the-embedding-model.md", 20)
    assert len(name) == 20 and name.startswith("switching") and name.endswith("model.md") and "…" in name


def spaces(provider: str | None, built: str | None) -> admin_pb2.GetEmbeddingSpaceResponse:
    response = admin_pb2.GetEmbeddingSpaceResponse()
    if provider:
        response.provider_space.CopyFrom(space(provider))
        response.probed_at.FromSeconds(int(NOW))
    if built:
        response.built_space.CopyFrom(space(built))
    return response


def test_status_right_after_a_warm_start_does_not_report_another_space() -> None:
    ready = [index("guide", READY, space=space("hash-v1")), index("runbooks", READY, space=space("hash-v1"))]
    # Every index READY in the provider's space, the built space not recorded yet (the closing probe).
    text = space_lines(spaces("hash-v1", None), NOW, ready).plain
    assert "another space" not in text
    assert "every index is READY in the provider's space" in text
    settled = space_lines(spaces("hash-v1", "hash-v1"), NOW, ready).plain
    assert settled.splitlines()[-1].startswith("built space     hash-v1/384@")
    first_build = [index("guide", REBUILDING), index("runbooks", PARKED)]
    assert re.search(r"first build is running", space_lines(spaces("hash-v1", None), NOW, first_build).plain)
    moved = space_lines(spaces("hash-v2", "hash-v1"), NOW, ready).plain
    assert "the provider serves another space" in moved
    assert "has not answered a probe yet" in space_lines(spaces(None, None), NOW, []).plain

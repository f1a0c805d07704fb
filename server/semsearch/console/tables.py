"""Pure renderers for `status` and `search`: protobuf messages (and the time) in, rich renderables out.

User data always goes in as ``Text``, never as markup: a title like "[draft]" must print as is.
``boxed=False`` is the plain layout for pipes: a header line, one line per row, columns apart by
spaces (`awk '{print $3}'` reads the state). The boxed layout fits the terminal it is drawn on: a
column that does not fit whole is left out rather than squeezed, so no header or name is cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.console.labels import ERROR_STYLE, age, seconds, short_path, space_label, state_text
from semsearch.console.pace import time_left
from semsearch.console.snippets import readable_snippet

WRAP_MIN_WIDTH = 24  # narrowest a column of wrapped text (an error, a hit) is worth showing


def _table(boxed: bool, expand: bool = False) -> Table:
    if boxed:
        # Rows of wrapped text need rules between them; expanding gives the wrapped column the rest.
        return Table(box=box.ROUNDED, header_style="bold", show_lines=expand, expand=expand)
    return Table(box=None, header_style="", show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))


@dataclass(frozen=True)
class Column:
    """A column of the boxed layout, with what deciding whether it fits needs."""

    header: str
    cells: Sequence[Text]
    drop: int = 0  # 0: always shown; otherwise columns are admitted by increasing drop while they fit
    justify: Literal["left", "right"] = "left"
    style: str = ""
    wraps: bool = False  # takes the width left over, at least WRAP_MIN_WIDTH

    @property
    def min_width(self) -> int:
        natural = max([len(self.header), *(cell.cell_len for cell in self.cells)])
        if self.wraps:
            return max(len(self.header), min(natural, WRAP_MIN_WIDTH))
        return natural


def boxed_width(columns: Sequence[Column]) -> int:
    """Cells a rounded table of these columns takes at least: contents, padding and rules."""
    return sum(c.min_width for c in columns) + 3 * len(columns) + 1


def fit(columns: Sequence[Column], width: int) -> list[Column]:
    """The columns that fit in ``width``, in their own order: every one with ``drop == 0``, then
    the others by increasing ``drop`` while the table still fits."""
    chosen = [c for c in columns if not c.drop]
    for column in sorted((c for c in columns if c.drop), key=lambda c: c.drop):
        if boxed_width([*chosen, column]) <= width:
            chosen.append(column)
    return [c for c in columns if c in chosen]


def boxed_table(columns: Sequence[Column], expand: bool = False) -> Table:
    table = _table(True, expand)
    for column in columns:
        table.add_column(
            column.header,
            justify=column.justify,
            style=column.style,
            no_wrap=not column.wraps,
            overflow="fold" if column.wraps else "ellipsis",
            min_width=column.min_width,
        )
    for row in zip(*(column.cells for column in columns), strict=True):
        table.add_row(*row)
    return table


class Fitted:
    """A renderable laid out for the width it is drawn at (a terminal's, a test's)."""

    def __init__(self, layout: Callable[[int], RenderableType]) -> None:
        self.layout = layout

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.layout(options.max_width)


def index_space(ix: types_pb2.Index) -> types_pb2.EmbeddingSpace | None:
    return ix.space if ix.HasField("space") else None


def indexes_table(
    indexes: Iterable[types_pb2.Index], now: float, boxed: bool = True, progress_in_state: bool = True
) -> RenderableType:
    """INDEX KIND STATE SPACE GEN DOCS CHUNKS SINCE LAST ERROR, one row per index.

    Boxed, the columns that do not fit are left out (KIND, DOCS and GEN first, INDEX and STATE
    never); a LAST ERROR that does not fit is printed under the table instead, one line per failing
    index.
    """
    listed = list(indexes)
    columns = [
        Column("INDEX", [Text(ix.name) for ix in listed], style="bold"),
        Column("KIND", [Text(ix.kind) for ix in listed], drop=7),
        Column("STATE", [_state(ix, progress_in_state) for ix in listed]),
        Column("SPACE", [Text(space_label(index_space(ix))) for ix in listed], drop=1),
        Column("GEN", [Text(str(ix.generation)) for ix in listed], drop=5, justify="right"),
        Column("DOCS", [Text(str(ix.document_count)) for ix in listed], drop=6, justify="right"),
        Column("CHUNKS", [Text(str(ix.chunk_count)) for ix in listed], drop=3, justify="right"),
        Column("SINCE", [Text(age(seconds(ix.state_since), now), style="dim") for ix in listed], drop=2),
        Column("LAST ERROR", [_error(ix) for ix in listed], drop=4, wraps=True),
    ]
    if not boxed:
        table = _table(False)
        for column in columns:
            table.add_column(column.header, justify=column.justify, style=column.style, no_wrap=True)
        for row in zip(*(column.cells for column in columns), strict=True):
            table.add_row(*row)
        return table

    def layout(width: int) -> RenderableType:
        shown = fit(columns, width)
        table = boxed_table(shown)
        failing = [ix for ix in listed if ix.last_error]
        if columns[-1] in shown or not failing:
            return table
        errors = Text()
        for ix in failing:
            errors.append("\n" if errors else "")
            errors.append(ix.name, style="bold")
            errors.append(": ")
            errors.append(ix.last_error, style=ERROR_STYLE)
        return Group(table, errors)

    return Fitted(layout)


def _state(ix: types_pb2.Index, progress_in_state: bool) -> Text:
    suffix = ""
    if progress_in_state and ix.HasField("progress"):
        suffix = f" {ix.progress.chunks_done}/{ix.progress.chunks_total}"
        left = time_left(ix.progress)
        suffix += f" {left}" if left else ""
    return state_text(ix.state, suffix)


def _error(ix: types_pb2.Index) -> Text:
    return Text(ix.last_error, style=ERROR_STYLE) if ix.last_error else Text("-", style="dim")


def space_lines(
    space: admin_pb2.GetEmbeddingSpaceResponse, now: float, indexes: Sequence[types_pb2.Index] = ()
) -> Text:
    """The provider's current space, the space the indexes are built in, and whether they agree.

    The built space is recorded only after a reindex's closing probe, so right after a (warm) start
    every index can be READY in the provider's space while none is recorded yet: that is agreement.
    """
    provider = space.provider_space if space.HasField("provider_space") else None
    built = space.built_space if space.HasField("built_space") else None
    serving = {space_label(index_space(ix)) for ix in indexes}
    all_ready = bool(indexes) and all(ix.state == types_pb2.INDEX_STATE_READY for ix in indexes)
    text = Text()
    text.append("provider space  ", style="bold")
    text.append(space_label(provider))
    if space.HasField("probed_at"):
        text.append(f"  (probed {age(seconds(space.probed_at), now)})", style="dim")
    text.append("\nbuilt space     ", style="bold")
    text.append(space_label(built))
    if provider is None:
        text.append("\nthe provider has not answered a probe yet", style="yellow")
    elif built is not None and space_label(provider) == space_label(built):
        pass
    elif built is None and all_ready and serving == {space_label(provider)}:
        text.append(
            "  (every index is READY in the provider's space; recorded after one more probe)", style="dim"
        )
    elif built is None:
        text.append("\nno index built yet: the first build is running or retried", style="yellow")
    else:
        text.append("\nthe provider serves another space: a reindex is running or retried", style="yellow")
    return text


def hits_view(response: search_pb2.SearchResponse, query: str, boxed: bool = True) -> RenderableType:
    """A heading (hit count, query, its space) over the hits table, best first."""
    heading = Text()
    heading.append(f"{len(response.hits)} hit{'' if len(response.hits) == 1 else 's'}", style="bold")
    heading.append(" for ")
    heading.append(f"“{query}”", style="italic")
    heading.append(f" · {mode_label(response.mode)}")
    if response.degraded:
        heading.append(" · DEGRADED", style="bold yellow")
    if response.HasField("query_space"):
        heading.append(" · query embedded in ")
        heading.append(space_label(response.query_space), style="bold")
    if not response.hits:
        return heading
    if not boxed:
        return Group(heading, _plain_hits(response))
    return Group(heading, Fitted(lambda width: _boxed_hits(response, width)))


def _title(hit: search_pb2.SearchHit) -> Text:
    title = Text(hit.title, style="bold")
    if hit.section:
        title.append(f" › {hit.section}", style="not bold")
    return title


def _plain_hits(response: search_pb2.SearchResponse) -> Table:
    """One line per hit; the long snippet goes last (no padding after it)."""
    table = _table(False)
    for header in ("#", "SCORE", "INDEX", "SOURCE", "SIGNALS", "TITLE", "SNIPPET"):
        table.add_column(header, justify="right" if header in ("#", "SCORE") else "left", no_wrap=True)
    for rank, hit in enumerate(response.hits, 1):
        table.add_row(
            Text(str(rank)),
            Text(score_label(response.mode, hit.score)),
            Text(hit.index),
            Text(hit.source),
            Text(signals_label(hit)),
            _title(hit),
            Text(readable_snippet(hit.snippet)),
        )
    return table


def _boxed_hits(response: search_pb2.SearchResponse, width: int) -> Table:
    """# SCORE SIGNALS INDEX HIT: the title, the snippet and the source stacked in one wrapped cell,
    so each gets the width of a line; SIGNALS, then INDEX, make way on a narrow terminal."""
    hits = list(response.hits)
    columns = [
        Column("#", [Text(str(rank)) for rank in range(1, len(hits) + 1)], justify="right"),
        Column(
            "SCORE", [Text(score_label(response.mode, h.score), style="green") for h in hits], justify="right"
        ),
        Column("SIGNALS", [Text(signals_label(h), style="dim") for h in hits], drop=2),
        Column("INDEX", [Text(h.index) for h in hits], drop=1),
        Column("HIT", [Text("-" * WRAP_MIN_WIDTH)] * len(hits), wraps=True),  # sized below
    ]
    shown = fit(columns, width)
    room = max(WRAP_MIN_WIDTH, width - boxed_width(shown[:-1]) - 3)  # the HIT cell's lines
    with_index = columns[3] not in shown  # the index goes next to the source instead
    cells = []
    for hit in hits:
        source = f"{hit.index} · {hit.source}" if with_index else hit.source
        cell = _title(hit)
        if hit.snippet:
            cell.append("\n")
            cell.append(readable_snippet(hit.snippet))
        if source:
            cell.append("\n")
            cell.append(short_path(source, room), style="dim")
        cells.append(cell)
    shown[-1] = Column("HIT", cells, wraps=True)
    return boxed_table(shown, expand=True)


def unavailable_lines(response: search_pb2.SearchResponse) -> list[str]:
    """Indexes that were asked for but could not serve: never dropped silently."""
    return [f"unavailable: {u.index} ({u.reason}): {u.message}" for u in response.unavailable_indexes]


def degraded_lines(response: search_pb2.SearchResponse) -> list[str]:
    """Indexes that answered with words only (allow_degraded), and why dense search could not."""
    return [
        f"degraded: {d.index} answered lexically ({d.reason}): {d.message}" for d in response.degraded_indexes
    ]


_MODES = {
    search_pb2.SEARCH_MODE_DENSE: "dense",
    search_pb2.SEARCH_MODE_LEXICAL: "lexical",
    search_pb2.SEARCH_MODE_HYBRID: "hybrid",
}


def mode_label(mode: search_pb2.SearchMode.ValueType) -> str:
    return _MODES.get(mode, "hybrid")


def score_label(mode: search_pb2.SearchMode.ValueType, score: float) -> str:
    """Cosine to 3 places, BM25 to 2, fused scores (around 1/60) to 4: each readable in its own range."""
    if mode == search_pb2.SEARCH_MODE_LEXICAL:
        return f"{score:.2f}"
    return f"{score:.3f}" if mode == search_pb2.SEARCH_MODE_DENSE else f"{score:.4f}"


def signals_label(hit: search_pb2.SearchHit) -> str:
    """Which signals found the hit, as one word: "pin", "d<dense rank>", "l<lexical rank>"."""
    parts = ["pin"] if hit.pinned else []
    if hit.dense_rank:
        parts.append(f"d{hit.dense_rank}")
    if hit.lexical_rank:
        parts.append(f"l{hit.lexical_rank}")
    return "·".join(parts) or "–"

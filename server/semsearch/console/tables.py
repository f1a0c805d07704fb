"""Pure renderers for `status` and `search`: protobuf messages (and the time) in, rich renderables out.

User data always goes in as ``Text``, never as markup: a title like "[draft]" must print as is.
``boxed=False`` is the plain layout for pipes: a header line, one line per row, columns apart by
spaces (`awk '{print $3}'` reads the state).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.console.labels import ERROR_STYLE, age, seconds, space_label, state_text


def _table(boxed: bool, expand: bool = False) -> Table:
    if boxed:
        # Rows of wrapped text need rules between them; expanding lets column ratios share the width.
        return Table(box=box.ROUNDED, header_style="bold", show_lines=expand, expand=expand)
    return Table(box=None, header_style="", show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))


def index_space(ix: types_pb2.Index) -> types_pb2.EmbeddingSpace | None:
    return ix.space if ix.HasField("space") else None


def indexes_table(
    indexes: Iterable[types_pb2.Index], now: float, boxed: bool = True, progress_in_state: bool = True
) -> Table:
    """INDEX KIND STATE SPACE GEN DOCS CHUNKS SINCE LAST ERROR, one row per index."""
    table = _table(boxed)
    table.add_column("INDEX", style="bold", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("SPACE", no_wrap=True)
    table.add_column("GEN", justify="right", no_wrap=True)
    table.add_column("DOCS", justify="right", no_wrap=True)
    table.add_column("CHUNKS", justify="right", no_wrap=True)
    table.add_column("SINCE", no_wrap=True)
    table.add_column("LAST ERROR", overflow="fold", no_wrap=not boxed)
    for ix in indexes:
        suffix = ""
        if progress_in_state and ix.HasField("progress"):
            suffix = f" {ix.progress.chunks_done}/{ix.progress.chunks_total}"
        table.add_row(
            Text(ix.name),
            Text(ix.kind),
            state_text(ix.state, suffix),
            Text(space_label(index_space(ix))),
            Text(str(ix.generation)),
            Text(str(ix.document_count)),
            Text(str(ix.chunk_count)),
            Text(age(seconds(ix.state_since), now), style="dim"),
            Text(ix.last_error, style=ERROR_STYLE) if ix.last_error else Text("-", style="dim"),
        )
    return table


def space_lines(space: admin_pb2.GetEmbeddingSpaceResponse, now: float) -> Text:
    """The provider's current space, the space the indexes are built in, and whether they agree."""
    provider = space.provider_space if space.HasField("provider_space") else None
    built = space.built_space if space.HasField("built_space") else None
    text = Text()
    text.append("provider space  ", style="bold")
    text.append(space_label(provider))
    if space.HasField("probed_at"):
        text.append(f"  (probed {age(seconds(space.probed_at), now)})", style="dim")
    text.append("\nbuilt space     ", style="bold")
    text.append(space_label(built))
    if provider is None:
        text.append("\nthe provider has not answered a probe yet", style="yellow")
    elif built is None or space_label(provider) != space_label(built):
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
    # In a pipe every hit is one line, so the long snippet goes last (no padding after it).
    order = ["#", "SCORE", "SIGNALS", "INDEX", "TITLE", "SNIPPET", "SOURCE"]
    if not boxed:
        order = ["#", "SCORE", "INDEX", "SOURCE", "SIGNALS", "TITLE", "SNIPPET"]
    table = _table(boxed, expand=True)
    columns = {
        "#": {"justify": "right", "no_wrap": True},
        "SCORE": {"justify": "right", "no_wrap": True},
        "SIGNALS": {"no_wrap": True, "style": "dim"},
        "INDEX": {"no_wrap": True},
        "TITLE": {"style": "bold", "ratio": 3, "no_wrap": not boxed},
        "SNIPPET": {"ratio": 6, "no_wrap": not boxed},
        "SOURCE": {"style": "dim", "ratio": 2, "overflow": "fold", "no_wrap": not boxed},
    }
    for name in order:
        table.add_column(name, **columns[name])  # type: ignore[arg-type]
    for rank, hit in enumerate(response.hits, 1):
        title = Text(hit.title)
        if hit.section:
            title.append(f" › {hit.section}", style="not bold")
        cells = {
            "#": Text(str(rank)),
            "SCORE": Text(score_label(response.mode, hit.score), style="green"),
            "SIGNALS": Text(signals_label(hit)),
            "INDEX": Text(hit.index),
            "TITLE": title,
            "SNIPPET": Text(hit.snippet),
            "SOURCE": Text(hit.source),
        }
        table.add_row(*(cells[name] for name in order))
    return Group(heading, table)


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

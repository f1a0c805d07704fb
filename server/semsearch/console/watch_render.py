"""The `semsearch watch` screen as a pure function of the view and the time, so tests render it at a
fixed width: a header (target, link, provider space), the indexes table, a progress bar per
REBUILDING index, and the latest events.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from semsearch.api.v1 import types_pb2
from semsearch.console.labels import ERROR_STYLE, bar, clock, space_label, state_text
from semsearch.console.pace import pace
from semsearch.console.tables import Fitted, indexes_table
from semsearch.console.watch_view import Link, LogLine, WatchView

DEFAULT_EVENTS = 12
BAR_WIDTH = 40
MIN_BAR_WIDTH = 10


def render_watch(
    view: WatchView,
    now: float,
    events: int = DEFAULT_EVENTS,
    title: str = "semsearch watch",
    only: frozenset[str] | None = None,
    boxed: bool = True,
) -> RenderableType:
    indexes = [ix for name, ix in view.indexes.items() if only is None or name in only]
    parts: list[RenderableType] = [_header(view, now, title)]
    if indexes:
        parts.append(indexes_table(indexes, now, boxed=boxed, progress_in_state=False))
    rebuilding = [ix for ix in indexes if ix.state == types_pb2.INDEX_STATE_REBUILDING]
    if rebuilding:
        parts.append(_progress(rebuilding))
    parts.append(_log(view, events, only))
    return Group(*parts)


def _header(view: WatchView, now: float, title: str) -> Text:
    text = Text()
    text.append(title, style="bold")
    text.append(f"  {view.target}  ")
    text.append_text(_link(view.link, view.sequence, now))
    if view.space is not None and view.space.HasField("provider_space"):
        text.append("  provider ", style="dim")
        text.append(space_label(view.space.provider_space), style="bold")
    return text


def _link(link: Link, sequence: int, now: float) -> Text:
    if link.status == "live":
        return Text(f"● live (message {sequence})", style="green")
    if link.status == "reconnecting":
        wait = max(0.0, link.retry_at - now)
        tries = f", {link.attempts} failed" if link.attempts else ""
        return Text(f"○ reconnecting… in {wait:.1f}s ({link.detail}{tries})", style="yellow")
    return Text("○ connecting…", style="yellow")


def _progress(rebuilding: list[types_pb2.Index]) -> Fitted:
    """One line per rebuilding index; the bar takes what the name and the counts leave of the width."""
    labels: list[tuple[str, str, str]] = []  # name, counts, cached
    for ix in rebuilding:
        done, total = ix.progress.chunks_done, ix.progress.chunks_total
        percent = f"{100 * done // total}%" if total else "-"
        cached = " · ".join(filter(None, [f"{ix.progress.chunks_cached} cached", pace(ix.progress)]))
        labels.append((ix.name, f"{done}/{total} chunks  {percent}", cached))

    def layout(width: int) -> RenderableType:
        widest = [max(len(row[column]) for row in labels) for column in range(3)]
        room = width - sum(widest) - 3 * 2  # four columns, two cells apart
        if room < MIN_BAR_WIDTH:
            return _progress_below_names(rebuilding, labels, width - 2 - 2 * 2 - widest[1] - widest[2])
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(style="dim", no_wrap=True)
        for ix, (name, counts, cached) in zip(rebuilding, labels, strict=True):
            progress = bar(ix.progress.chunks_done, ix.progress.chunks_total, min(BAR_WIDTH, room))
            grid.add_row(Text(name), progress, Text(counts), Text(cached))
        return grid

    return Fitted(layout)


def _progress_below_names(
    rebuilding: list[types_pb2.Index], labels: list[tuple[str, str, str]], room: int
) -> Group:
    """A name too long to share its line with a bar: the name, then the bar indented under it."""
    lines: list[RenderableType] = []
    for ix, (name, counts, cached) in zip(rebuilding, labels, strict=True):
        line = Text("  ")
        line.append_text(
            bar(ix.progress.chunks_done, ix.progress.chunks_total, max(MIN_BAR_WIDTH, min(BAR_WIDTH, room)))
        )
        line.append(f"  {counts}  ")
        line.append(cached, style="dim")
        lines += [Text(name, style="bold", no_wrap=True, overflow="ellipsis"), line]
    return Group(*lines)


def _log(view: WatchView, events: int, only: frozenset[str] | None) -> RenderableType:
    lines = [line for line in view.log if only is None or not line.index or line.index in only]
    if not lines or events <= 0:
        return Text("no events yet", style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for line in lines[-events:]:
        grid.add_row(*_log_cells(line))
    return Group(Text(f"events (latest {min(events, len(lines))})", style="bold underline"), grid)


def _log_cells(line: LogLine) -> tuple[Text, Text, Text, Text]:
    when = Text(clock(line.time))
    if not line.index:  # a note about the stream itself
        return when, Text("—"), Text(""), Text(line.reason, style="yellow")
    change = state_text(line.previous)
    change.append(" → ", style="dim")
    change.append_text(state_text(line.state))
    reason = Text(line.reason)
    reason.append(f"  gen {line.generation}", style="dim")
    if line.error:
        reason.append(f"  {line.error}", style=ERROR_STYLE)
    return when, Text(line.index), change, reason


def log_line(line: LogLine) -> Text:
    """One event-log line on its own, for output that scrolls instead of redrawing (pipes)."""
    return Text("  ").join(_log_cells(line))

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
from semsearch.console.tables import indexes_table
from semsearch.console.watch_view import Link, LogLine, WatchView

DEFAULT_EVENTS = 12
BAR_WIDTH = 40


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


def _progress(rebuilding: list[types_pb2.Index]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(style="dim", no_wrap=True)
    for ix in rebuilding:
        done, total, cached = ix.progress.chunks_done, ix.progress.chunks_total, ix.progress.chunks_cached
        percent = f"{100 * done // total}%" if total else "-"
        grid.add_row(
            Text(ix.name),
            bar(done, total, BAR_WIDTH),
            Text(f"{done}/{total} chunks  {percent}"),
            Text(f"{cached} cached"),
        )
    return grid


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

"""``semsearch watch``: index states live, with rebuild progress and the latest events.

On a terminal it redraws one screen (rich Live); in a pipe it prints the snapshot table and then
one line per event; with ``--json`` every stream message is one JSON object per line. Broken
streams are resubscribed with backoff; Ctrl-C is the normal way out (exit 0).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from semsearch.console.options import client_parser

if TYPE_CHECKING:
    from semsearch.console.session import Session
    from semsearch.console.watch_view import WatchView

REDRAW_SECONDS = 0.1  # at most ten redraws a second, however fast events come
TICK_SECONDS = 1.0  # redraw at least this often: ages and the reconnect countdown move


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    parser = client_parser(sub, "watch", "follow index states live: table, rebuild progress and events")
    parser.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="NAME",
        help="index to watch (repeatable; default all)",
    )
    parser.add_argument(
        "--events", type=int, default=12, metavar="N", help="events shown under the table (default 12)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print every stream message as one JSON object per line"
    )
    return ["watch"]


def run(args: argparse.Namespace) -> int:
    from semsearch.console.exits import EXIT_OK
    from semsearch.console.session import run_command

    return run_command(_watch, args, interrupted=EXIT_OK)


async def _watch(session: Session, args: argparse.Namespace) -> int:
    from semsearch.console.watch_view import WatchView

    view = WatchView(session.target)
    if args.json:
        await _as_json(session, args, view)
    elif session.out.terminal:
        await _live(session, args, view)
    else:
        await _as_lines(session, args, view)
    raise AssertionError("a watch ends only by Ctrl-C or an error")


async def _live(session: Session, args: argparse.Namespace, view: WatchView) -> None:
    import asyncio
    import contextlib
    import time

    from rich.console import RenderableType
    from rich.live import Live

    from semsearch.console.follow import Follower, wait_at_most
    from semsearch.console.watch_render import render_watch

    changed = asyncio.Event()

    def frame() -> RenderableType:
        return render_watch(view, time.time(), events=args.events)

    with Live(frame(), console=session.out.console, auto_refresh=False, redirect_stderr=False) as live:

        async def redraw() -> None:
            while True:
                await wait_at_most(changed, TICK_SECONDS)
                changed.clear()
                live.update(frame(), refresh=True)
                await asyncio.sleep(REDRAW_SECONDS)

        painter = asyncio.create_task(redraw())
        try:
            await Follower(session, view, args.index, on_change=changed.set).run()
        finally:
            painter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await painter
            live.update(frame(), refresh=True)


async def _as_lines(session: Session, args: argparse.Namespace, view: WatchView) -> None:
    import time

    from semsearch.api.v1 import admin_pb2
    from semsearch.console.follow import Follower
    from semsearch.console.tables import indexes_table
    from semsearch.console.watch_render import log_line

    seen = 0

    def print_new() -> None:
        nonlocal seen
        for line in view.since(seen):
            session.out.show(log_line(line))
        seen = view.logged

    def on_message(message: admin_pb2.WatchIndexesResponse) -> None:
        if message.WhichOneof("payload") == "snapshot":
            session.out.show(indexes_table(view.indexes.values(), time.time(), boxed=False))
        print_new()

    await Follower(
        session, view, args.index, on_change=print_new, on_message=on_message, poll_progress=False
    ).run()


async def _as_json(session: Session, args: argparse.Namespace, view: WatchView) -> None:
    from semsearch.api.v1 import admin_pb2
    from semsearch.console.follow import Follower
    from semsearch.console.output import as_dict

    seen = 0

    def notes() -> None:
        """Stream notes (broken, resubscribed) go to stderr: stdout stays one message per line."""
        nonlocal seen
        for line in view.since(seen):
            if not line.index:
                session.out.note(f"semsearch: {line.reason}")
        seen = view.logged

    def on_message(message: admin_pb2.WatchIndexesResponse) -> None:
        session.out.json(as_dict(message), indent=None)

    await Follower(
        session, view, args.index, on_change=notes, on_message=on_message, poll_progress=False
    ).run()

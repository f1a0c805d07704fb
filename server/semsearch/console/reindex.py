"""``semsearch reindex``: force a rebuild; with ``--wait``, follow it until it is swapped in or fails."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from semsearch.console.options import client_parser, positive_seconds

if TYPE_CHECKING:
    import asyncio

    from semsearch.api.v1 import admin_pb2
    from semsearch.console.rebuild_wait import RebuildWait
    from semsearch.console.session import Session
    from semsearch.console.watch_view import WatchView


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    parser = client_parser(sub, "reindex", "rebuild indexes from their retained sources")
    parser.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="NAME",
        help="index to rebuild (repeatable; default all)",
    )
    parser.add_argument("--reason", default="", help="recorded in the server's events and logs")
    parser.add_argument(
        "--wait", action="store_true", help="follow the rebuild until it is swapped in (exit 0) or fails (4)"
    )
    parser.add_argument(
        "--wait-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="with --wait: give up after this long (exit 5); default: until done or Ctrl-C",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as one JSON document")
    return ["reindex"]


def run(args: argparse.Namespace) -> int:
    from semsearch.console.session import run_command

    return run_command(_reindex_and_wait if args.wait or args.wait_timeout else _reindex, args)


async def _request(session: Session, args: argparse.Namespace) -> admin_pb2.ReindexResponse:
    """Send the Reindex request; the answer holds the indexes as they were when it was accepted."""
    from semsearch.api.v1 import admin_pb2, types_pb2
    from semsearch.console.contract import typed_all

    accepted = await session.client.reindex(args.index, reason=args.reason or "semsearch reindex")
    return admin_pb2.ReindexResponse(indexes=typed_all(accepted, types_pb2.Index))


async def _reindex(session: Session, args: argparse.Namespace) -> int:
    from rich.text import Text

    from semsearch.console.exits import EXIT_OK
    from semsearch.console.labels import state_name
    from semsearch.console.output import as_dict

    response = await _request(session, args)
    if args.json:
        session.out.json(as_dict(response))
        return EXIT_OK
    names = ", ".join(f"{ix.name} ({state_name(ix.state)}, gen {ix.generation})" for ix in response.indexes)
    session.out.show(Text(f"reindex requested: {names}"))
    session.out.note(f"follow it with: semsearch watch --target {session.target}", style="dim")
    return EXIT_OK


async def _reindex_and_wait(session: Session, args: argparse.Namespace) -> int:
    """Subscribe first, then request: the snapshot and every later event are seen, nothing missed."""
    import asyncio
    import contextlib

    from semsearch.console.follow import Follower
    from semsearch.console.rebuild_wait import RebuildWait
    from semsearch.console.watch_view import WatchView

    view, wait = WatchView(session.target), RebuildWait()
    changed, subscribed, decided = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def on_change() -> None:
        changed.set()
        if view.snapshots:
            subscribed.set()
        if wait.outcome(view.indexes) is not None:
            decided.set()

    follower = asyncio.create_task(
        Follower(session, view, args.index, on_change=on_change, on_message=wait.observe).run()
    )
    display = asyncio.create_task(_display(session, view, wait, changed, quiet=args.json))
    outcome = "timeout"
    try:
        await _until(subscribed, follower)  # the first snapshot (or the follower's error)
        wait.armed = True
        wait.accepted(await _request(session, args))
        on_change()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.wait_timeout):
                await _until(decided, follower)
                outcome = wait.outcome(view.indexes) or "timeout"
    finally:
        for task in (follower, display):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return _report(session, args, view, wait, outcome)


async def _until(event: asyncio.Event, follower: asyncio.Task[None]) -> None:
    """Wait for ``event``; if the follower ends first, its error ends the command."""
    import asyncio

    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait({waiter, follower}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if follower.done():
        follower.result()


async def _display(
    session: Session, view: WatchView, wait: RebuildWait, changed: asyncio.Event, quiet: bool
) -> None:
    """A live screen on a terminal; in a pipe, one line per event of a rebuilt index; with JSON, nothing."""
    import asyncio
    import time

    from rich.console import Group, RenderableType
    from rich.live import Live
    from rich.text import Text

    from semsearch.console.follow import wait_at_most
    from semsearch.console.watch_render import log_line, render_watch

    def targets() -> frozenset[str] | None:
        return frozenset(wait.baseline) or None

    if quiet:
        return
    if not session.out.terminal:
        seen = 0
        while True:
            await changed.wait()
            changed.clear()
            names = targets()
            for line in view.since(seen):
                if not line.index or names is None or line.index in names:
                    session.out.show(log_line(line))
            seen = view.logged

    def frame() -> RenderableType:
        names = ", ".join(sorted(wait.baseline))
        status = {
            None: Text(f"waiting for {names} to be swapped in (READY in a newer generation)", style="dim"),
            "rebuilt": Text(f"✓ {names}: swapped in", style="green"),
            "failed": Text(f"✗ {', '.join(sorted(wait.failures))}: rebuild failed", style="red"),
        }[wait.outcome(view.indexes)]
        if not names:
            status = Text("requesting the rebuild…", style="dim")
        return Group(render_watch(view, time.time(), title="semsearch reindex", only=targets()), status)

    with Live(frame(), console=session.out.console, auto_refresh=False, redirect_stderr=False) as live:
        try:
            while True:
                await wait_at_most(changed, 1.0)
                changed.clear()
                live.update(frame(), refresh=True)
                await asyncio.sleep(0.1)
        finally:
            live.update(frame(), refresh=True)


def _report(
    session: Session, args: argparse.Namespace, view: WatchView, wait: RebuildWait, outcome: str
) -> int:
    from rich.text import Text

    from semsearch.console.exits import EXIT_OK, EXIT_REBUILD_FAILED, EXIT_WAIT_TIMEOUT
    from semsearch.console.labels import space_label, state_name
    from semsearch.console.output import as_dict
    from semsearch.console.tables import index_space

    final = [view.indexes[name] for name in wait.baseline if name in view.indexes]
    if args.json:
        session.out.json(
            {"outcome": outcome, "indexes": [as_dict(ix) for ix in final], "failures": wait.failures}
        )
    if outcome == "rebuilt":
        if not args.json:
            for ix in final:
                line = f"rebuilt {ix.name}: READY, generation {ix.generation}, {space_label(index_space(ix))}"
                session.out.show(Text(line, style="green"))
        return EXIT_OK
    if outcome == "failed":
        for name, error in wait.failures.items():
            if name in wait.baseline and not wait.rebuilt(view.indexes.get(name)):
                session.out.note(f"semsearch: rebuild of {name} failed: {error}", style="red")
        session.out.note("the server retries with backoff; follow it with `semsearch watch`", style="dim")
        return EXIT_REBUILD_FAILED
    pending = [ix for ix in final if not wait.rebuilt(ix)]
    still = ", ".join(f"{ix.name} {state_name(ix.state)}" for ix in pending) or "no answer yet"
    session.out.note(f"semsearch: gave up waiting after {args.wait_timeout:g}s: {still}", style="yellow")
    return EXIT_WAIT_TIMEOUT

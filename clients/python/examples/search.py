"""Search a running semsearch server, waiting first until the indexes asked for are READY.

    python clients/python/examples/search.py "how do I swap the embedding model safely"
    python clients/python/examples/search.py --target 127.0.0.1:50051 --index runbooks --top-k 3 "disk full"

Steps, each one client feature:

1. ``list_indexes()`` shows every index and its state;
2. ``watch_indexes()`` follows state changes until the indexes asked for are READY (no polling; a
   server restart meanwhile is ridden out: the watch resubscribes and starts from a new snapshot);
3. ``search()`` with ``RefusalRetry``, which waits out refusals the server asks to retry later
   (an index rebuilding after a model change), pacing itself by the server's RetryInfo.

Exit status: 0 on success, 1 when the server refused the request, 3 when no server answered.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from semsearch_client import AsyncSemsearchClient, RefusalRetry, SemsearchError, UnreachableError
from semsearch_client.messages import READY, state_name


async def wait_until_ready(client: AsyncSemsearchClient, names: list[str], timeout: float) -> None:
    """Replace the view on every snapshot, apply every event, stop once all are READY."""
    async with asyncio.timeout(timeout), client.watch_indexes(names) as updates:
        states: dict[str, int] = {}
        async for update in updates:
            if update.snapshot is not None:
                if update.resubscribed:
                    print("(server reconnected; starting from its new snapshot)")
                states = {ix.name: ix.state for ix in update.snapshot.indexes}
            elif update.event is not None:
                states[update.event.index] = update.event.state
                print(f"  {update.event.index}: {state_name(update.event.state)} ({update.event.reason})")
            if all(state == READY for state in states.values()):
                return


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("query")
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the server")
    parser.add_argument(
        "--index", action="append", default=[], help="index to search (repeatable; default: all)"
    )
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for READY indexes")
    args = parser.parse_args()

    async with AsyncSemsearchClient(args.target, retry=RefusalRetry(deadline=args.wait)) as client:
        try:
            for ix in await client.list_indexes():
                print(f"{ix.name:<12} {ix.kind:<9} {state_name(ix.state):<10} {ix.space.model or '-'}")
            await wait_until_ready(client, args.index, args.wait)
            response = await client.search(args.query, indexes=args.index, top_k=args.top_k)
        except UnreachableError as exc:
            print(f"no semsearch server at {args.target}: {exc.message}", file=sys.stderr)
            return 3
        except SemsearchError as exc:  # str() gives "CODE [REASON]: message"
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        except TimeoutError:
            print(f"indexes not READY after {args.wait} s", file=sys.stderr)
            return 1

    print(f"\n{len(response.hits)} hits for {args.query!r} (embedded in {response.query_space.model})")
    for hit in response.hits:
        where = f"{hit.title} > {hit.section}" if hit.section else hit.title
        print(f"{hit.score:6.3f}  [{hit.index}] {where}  ({hit.source})")
    for missing in response.unavailable_indexes:
        print(f"unavailable: {missing.index} ({missing.reason}: {missing.message})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""``python -m bench``: run every benchmark in order, then write BENCHMARKS.md at the repository root.

``python -m bench relevance [search ...]`` runs only the benchmarks named and replaces their sections
of the existing BENCHMARKS.md, leaving the others as they were (handy while working on one).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from bench import detection, migration, query_priority, reindex, relevance, replicas, search
from bench.report import Section, replace_sections, write

# In report order; a new benchmark adds its module's ``run`` here. Reindex goes first: its peak RSS
# is the process's, which a 100k-chunk search index measured earlier would already have raised.
BENCHMARKS: list[tuple[str, Callable[[], Awaitable[Section]]]] = [
    ("reindex", reindex.run),
    ("search", search.run),
    ("detection", detection.run),
    ("migration", migration.run),
    ("query_priority", query_priority.run),
    ("relevance", relevance.run),
    ("replicas", replicas.run),
]


async def main(only: list[str]) -> None:
    unknown = sorted(set(only) - {name for name, _ in BENCHMARKS})
    if unknown:
        known = ", ".join(name for name, _ in BENCHMARKS)
        raise SystemExit(f"bench: no benchmark {', '.join(unknown)} (known: {known})")
    started = time.perf_counter()
    sections = []
    for name, run in BENCHMARKS:
        if only and name not in only:
            continue
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        section = await run()
        seconds = time.perf_counter() - began
        sections.append(Section(section.title, section.body, seconds))
        print(f"bench: {name} done in {seconds:.0f} s", file=sys.stderr, flush=True)
    path = replace_sections(sections) if only else write(sections, time.perf_counter() - started)
    print(f"bench: wrote {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

"""Signalling a child that has just exited keeps its real exit code (asyncio's watcher reaps it)."""

from __future__ import annotations

import asyncio
import sys

from semsearch.children import kill_child, signal_child


async def test_killing_a_child_that_just_exited_reports_its_own_exit_code() -> None:
    # What a launcher does when a child's stdout closes before it was ready: kill it, then ask how
    # it ended. With Popen.kill() about one round in ten reported 255 (its poll reaped the child
    # before asyncio's watcher could); sixty rounds make a regression all but certain to show.
    codes = []
    for _ in range(60):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-c", "import sys; sys.exit(7)", stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        await process.stdout.read()
        kill_child(process)
        codes.append(await asyncio.wait_for(process.wait(), 30))
    assert set(codes) == {7}


async def test_a_running_child_is_signalled_and_a_reaped_one_is_left_alone() -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-S", "-c", "import time; time.sleep(60)")
    signal_child(process)
    assert await asyncio.wait_for(process.wait(), 30) == -15
    signal_child(process)  # reaped: nothing to signal, and no error
    kill_child(process)

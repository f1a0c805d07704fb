"""Signal an asyncio child process without reaping it from under the event loop.

``asyncio.subprocess.Process.kill()``/``terminate()``/``send_signal()`` go through
``subprocess.Popen.send_signal``, which first polls the child with ``waitpid``. When the child has
just exited, that poll reaps it, and asyncio's own child watcher then finds no child and reports
exit code 255 instead of the real one. ``os.kill`` on the pid has no such side effect, and is safe:
until the watcher reaps the child, its pid stays reserved (a zombie cannot be replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def signal_child(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``process`` unless it has been reaped already; never raises for a gone child."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)


def kill_child(process: asyncio.subprocess.Process) -> None:
    """SIGKILL: no handler, no cleanup, exactly like a crash."""
    signal_child(process, signal.SIGKILL)

"""`semsearch watch` in a real pseudo-terminal: the live screen through a model switch, then Ctrl-C.

The rendering is tested at a fixed width in test_cli_watch.py; this proves the command itself draws
on a terminal, follows a switch, and leaves the terminal usable with exit code 0 when interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator, Callable

import pytest

from semsearch.proxy.launcher import ProxyProcess
from tests.conftest import REPO
from tests.support.server import Service

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A child process on a pseudo-terminal of a fixed size, its output collected as it comes."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master
        self.raw = ""
        self._output = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    @property
    def text(self) -> str:
        """The output without escape sequences: every frame drawn, one after the other."""
        return ANSI.sub("", self.raw)

    def _read(self) -> None:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed its side
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.master)
        self.raw += chunk.decode(errors="replace")
        self._output.set()

    async def until(self, condition: Callable[[str], bool], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not condition(self.text):
                self._output.clear()
                await self._output.wait()

    async def interrupt(self) -> int:
        """Ctrl-C, as the terminal sends it: SIGINT to the process."""
        self.process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.process.wait(), 30)
        with contextlib.suppress(TimeoutError):  # collect what it drew on the way out
            await self.until(lambda _: False, timeout=0.5)
        return code

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, *args: str, columns: int, lines: int = 40) -> AsyncIterator[Terminal]:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "SEMSEARCH_TARGET")}
        env.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "semsearch",
            *args,
            cwd=REPO,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        terminal = cls(process, master)
        try:
            yield terminal
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(master)
            os.close(master)


@pytest.mark.slow
async def test_watch_on_a_terminal_redraws_through_a_switch_and_ctrl_c_exits_0(
    hash_proxy: ProxyProcess, service: Service
) -> None:
    async with Terminal.run("watch", "--target", f"127.0.0.1:{service.app.port}", columns=120) as terminal:
        await terminal.until(lambda text: "● live" in text and "hash-v1/384@" in text)
        await hash_proxy.switch_model("hash-v2")
        service.app.manager.wake("test: model switched")
        await terminal.until(
            lambda text: text.count("REBUILDING → READY") >= 4 and "provider hash-v2" in text
        )
        code = await terminal.interrupt()
    assert code == 0
    assert "\x1b[?25l" in terminal.raw and "\x1b[?25h" in terminal.raw  # cursor hidden, then shown again
    assert "\x1b[" in terminal.raw.split("● live", 1)[1]  # redrawn in place, with colour
    assert "READY → PARKED" in terminal.text and "Traceback" not in terminal.text
    last_frame = terminal.text.rsplit("semsearch watch", 1)[1]
    assert last_frame.count("hash-v2/384@") >= 5  # the provider and every index in the new space

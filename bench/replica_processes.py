"""`semsearch serve` replicas as child processes, as they run in a deployment: a config file, the
address each one bound, and every event it logged with the wall-clock time it logged it.

Times are unix seconds (the log's ``ts``, millisecond resolution), so they compare with
PostgreSQL's ``now()`` on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import ROOT
from semsearch.children import kill_child, signal_child

BANNER = re.compile(r"serving on (127\.0\.0\.1:\d+)")
STOP_SECONDS = 30.0

Event = dict[str, Any]


def write_config(path: Path, raw: Mapping[str, Any]) -> Path:
    """A TOML file of a raw config (``parse_config``'s input): its tables, then its ``[[index]]``
    entries; values are strings, numbers and booleans."""
    lines: list[str] = []
    tables = [(f"[{name}]", values) for name, values in raw.items() if name != "index"]
    for header, values in [*tables, *(("[[index]]", ix) for ix in raw.get("index", ()))]:
        lines.append(header)
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def logged_at(item: Event) -> float:
    """The unix time of a JSON log line (``ts`` is UTC with milliseconds)."""
    return datetime.strptime(item["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    address: str = ""
    events: list[Event] = field(default_factory=list)
    _logged: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.get("event") == name]

    async def wait_event(self, match: Callable[[Event], bool], timeout: float) -> Event:
        """The first logged event ``match`` accepts, waiting for lines as they arrive."""
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for item in self.events[seen:]:
                    if match(item):
                        return item
                seen = len(self.events)
                if self._closed:
                    tail = "\n".join(json.dumps(e) for e in self.events[-20:])
                    raise RuntimeError(f"replica {self.address} exited before logging it:\n{tail}")
                self._logged.clear()
                await self._logged.wait()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict) and "event" in item:
                    self.events.append(item)
                    self._logged.set()
        self._closed = True
        self._logged.set()

    async def _read_stdout(self, found: asyncio.Future[str]) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            if not found.done() and (match := BANNER.search(line.decode(errors="replace"))):
                found.set_result(match.group(1))
        if not found.done():
            found.set_exception(RuntimeError("semsearch serve exited before serving"))

    async def stop(self) -> None:
        """SIGTERM (the replica releases its lease and drains), SIGKILL if it takes too long."""
        if self.process.returncode is None:
            signal_child(self.process)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                kill_child(self.process)
                await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def start_replica(config: Path, startup_timeout: float = 300.0) -> Replica:
    """``semsearch serve --config config`` on a free loopback port, JSON logs; returns once it serves
    gRPC (its indexes may still be loading)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        "serve",
        "--config",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    replica = Replica(process)
    address: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    replica._readers = [
        asyncio.create_task(replica._read_stderr()),
        asyncio.create_task(replica._read_stdout(address)),
    ]
    try:
        replica.address = await asyncio.wait_for(address, startup_timeout)
    except BaseException:
        await replica.stop()
        raise
    return replica

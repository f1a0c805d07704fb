"""Run `semsearch serve` as a real child process: a config file, its address, its log events, its exit.

The server prints a banner with the address it bound on stdout and logs one JSON event per line on
stderr; both pipes are read until EOF so a chatty child never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from semsearch.children import kill_child, signal_child
from tests.support.corpora import REPO

BANNER = re.compile(r"serving on (127\.0\.0\.1:\d+)")
STARTUP_TIMEOUT = 120.0


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(
    path: Path,
    url: str,
    indexes: Sequence[Mapping[str, Any]],
    *,
    cache: str = "",
    grace_seconds: float = 5.0,
    embeddings: Mapping[str, Any] | None = None,
    watcher: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
) -> Path:
    """A TOML config for ``semsearch serve`` over a running provider at ``url`` (model hash-v1)."""
    sections: dict[str, Mapping[str, Any]] = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": grace_seconds},
        "embeddings": {"url": url, "model": "hash-v1", **(embeddings or {})},
        # Tests wake the watcher or wait on states; a failed tick retries within milliseconds.
        "watcher": {
            "interval_seconds": 600.0,
            "backoff_base_seconds": 0.05,
            "backoff_cap_seconds": 0.2,
            **(watcher or {}),
        },
        "cache": {"path": cache},
        **({"store": store} if store is not None else {}),
    }
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        lines.append("")
    for ix in indexes:
        lines.append("[[index]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in ix.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def serve_command(config: Path) -> list[str]:
    return [
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
    ]


@dataclass
class ServerProcess:
    """A running ``semsearch serve`` child and everything it has logged so far."""

    process: asyncio.subprocess.Process
    address: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)  # JSON log lines, in order
    other_output: list[str] = field(default_factory=list)  # stderr lines that are not events
    _logged: asyncio.Event = field(default_factory=asyncio.Event)
    _stderr_closed: bool = False
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]

    async def wait_event(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first logged event that ``match`` accepts, waiting for new lines as they arrive."""
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for item in self.events[seen:]:
                    if match(item):
                        return item
                seen = len(self.events)
                if self._stderr_closed:
                    raise AssertionError(f"the server exited before logging it:\n{self.log_tail()}")
                self._logged.clear()
                await self._logged.wait()

    def terminate(self) -> None:
        signal_child(self.process, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, exactly like a crash."""
        kill_child(self.process)

    async def wait(self, timeout: float) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (it drains, and a replica releases its lease), SIGKILL after ``grace`` seconds."""
        if self.process.returncode is None:
            self.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.kill()
        await self._ended()

    async def _ended(self) -> None:
        """Kill it if it still runs, and wait for it and for its output to be read."""
        kill_child(self.process)
        await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)

    def log_tail(self, lines: int = 40) -> str:
        rendered = [json.dumps(e) for e in self.events] + self.other_output
        return "\n".join(rendered[-lines:])

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            try:
                item = json.loads(text)
            except ValueError:
                item = None
            if isinstance(item, dict) and "event" in item:
                self.events.append(item)
            elif text:
                self.other_output.append(text)
            self._logged.set()
        self._stderr_closed = True
        self._logged.set()

    async def _read_stdout(self, found: asyncio.Future[str]) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            if not found.done() and (match := BANNER.search(line.decode(errors="replace"))):
                found.set_result(match.group(1))
        if not found.done():
            found.set_exception(EOFError())


async def start_server(config: Path, startup_timeout: float = STARTUP_TIMEOUT) -> ServerProcess:
    """Start ``semsearch serve --config config`` on an ephemeral loopback port, JSON logs; returns
    once it serves gRPC (its indexes may still be loading). The caller stops it."""
    process = await asyncio.create_subprocess_exec(
        *serve_command(config),
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ServerProcess(process)
    address: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server._readers = [
        asyncio.create_task(server._read_stderr()),
        asyncio.create_task(server._read_stdout(address)),
    ]
    try:
        server.address = await asyncio.wait_for(address, startup_timeout)
    except EOFError:
        await server._ended()
        raise AssertionError(
            f"semsearch serve exited ({process.returncode}) before serving:\n{server.log_tail()}"
        ) from None
    except BaseException:
        await server._ended()
        raise
    return server


@contextlib.asynccontextmanager
async def serve_process(
    config: Path, startup_timeout: float = STARTUP_TIMEOUT
) -> AsyncIterator[ServerProcess]:
    """``start_server`` for the ``async with`` block; killed at the end if the test has not
    stopped it."""
    server = await start_server(config, startup_timeout)
    try:
        yield server
    finally:
        await server._ended()


async def run_to_exit(config: Path, timeout: float = STARTUP_TIMEOUT) -> tuple[int, str]:
    """Run ``semsearch serve`` expecting it to refuse to start: its exit code and stderr."""
    process = await asyncio.create_subprocess_exec(
        *serve_command(config),
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            kill_child(process)
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def wait_for_states(
    channel: grpc.aio.Channel,
    condition: Callable[[dict[str, types_pb2.IndexState.ValueType]], bool],
    timeout: float = 120.0,
) -> dict[str, types_pb2.IndexState.ValueType]:
    """Follow WatchIndexes until ``condition(state by index)`` holds; return those states."""
    stream = admin_pb2_grpc.AdminServiceStub(channel).WatchIndexes(admin_pb2.WatchIndexesRequest())
    states: dict[str, types_pb2.IndexState.ValueType] = {}
    try:
        async with asyncio.timeout(timeout):
            async for message in stream:
                if message.WhichOneof("payload") == "snapshot":
                    states = {ix.name: ix.state for ix in message.snapshot.indexes}
                else:
                    states[message.event.index] = message.event.state
                if states and condition(states):
                    return states
    finally:
        stream.cancel()
    raise AssertionError(f"the watch stream ended before the condition held: {states}")


def all_ready(states: Mapping[str, types_pb2.IndexState.ValueType]) -> bool:
    return set(states.values()) == {types_pb2.INDEX_STATE_READY}

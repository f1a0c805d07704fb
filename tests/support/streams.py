"""One WatchIndexes stream read in the background and kept whole for the assertions."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable

import grpc

from semsearch.api.v1 import admin_pb2
from tests.support.server import Service


class WatchStream:
    def __init__(self, service: Service, resume_token: str = "") -> None:
        self.messages: list[admin_pb2.WatchIndexesResponse] = []
        self.call = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(resume_token=resume_token))
        self._received = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            async for message in self.call:
                self.messages.append(message)
                async with self._received:
                    self._received.notify_all()

    @property
    def events(self) -> list[admin_pb2.IndexEvent]:
        return [m.event for m in self.messages if m.HasField("event")]

    def transitions(self) -> dict[str, list[tuple[int, int]]]:
        """(previous state, state) of every event after the snapshot, by index."""
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for message in self.messages[1:]:
            seen[message.event.index].append((message.event.previous_state, message.event.state))
        return seen

    async def until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout), self._received:
            await self._received.wait_for(condition)

    async def close(self) -> None:
        self.call.cancel()
        await self.task

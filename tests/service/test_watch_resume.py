"""WatchIndexes resumes after the last message a client saw: no gap, no duplicate, no snapshot."""

from __future__ import annotations

import grpc
import pytest

from semsearch.api.v1 import admin_pb2
from tests.support.server import Service
from tests.support.status import failure
from tests.support.streams import WatchStream


async def _reindexed(service: Service, stream: WatchStream, name: str) -> None:
    """Reindex one index and wait until the stream saw its swap."""
    before = len(stream.events)
    await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=[name], reason="resume test"))
    await stream.until(lambda: any("resume test" in e.reason for e in stream.events[before:]))


async def test_a_resumed_stream_continues_after_the_last_message_seen(service: Service) -> None:
    first = WatchStream(service)
    await _reindexed(service, first, "runbooks")
    await first.close()
    last = first.messages[-1]
    assert first.messages[0].HasField("snapshot") and last.HasField("event")
    positions = [m.log_sequence for m in first.messages[1:]]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # gap-free

    watcher = WatchStream(service)  # sees everything from here on, to compare with
    await _reindexed(service, watcher, "eips")  # happens while the first client is away
    resumed = WatchStream(service, resume_token=last.resume_token)
    await resumed.until(lambda: any("resume test" in e.reason and e.index == "eips" for e in resumed.events))
    await resumed.close()
    await watcher.close()

    assert resumed.messages[0].HasField("event")  # no snapshot: the client has everything before
    assert resumed.messages[0].log_sequence == last.log_sequence + 1
    missed = [(m.log_sequence, m.event.reason) for m in resumed.messages]
    seen_by_watcher = [(m.log_sequence, m.event.reason) for m in watcher.messages[1:]]
    assert missed[-len(seen_by_watcher) :] == seen_by_watcher
    assert [m.sequence for m in resumed.messages] == list(range(1, len(resumed.messages) + 1))


async def test_a_snapshot_carries_its_position_and_a_token(service: Service) -> None:
    stream = WatchStream(service)
    await stream.until(lambda: len(stream.messages) >= 1)
    await stream.close()
    snapshot = stream.messages[0]
    assert snapshot.HasField("snapshot") and snapshot.log_sequence > 0
    resumed = WatchStream(service, resume_token=snapshot.resume_token)
    await _reindexed(service, resumed, "runbooks")
    await resumed.close()
    assert resumed.messages[0].log_sequence == snapshot.log_sequence + 1


async def test_a_token_of_another_log_starts_with_a_snapshot(service: Service) -> None:
    stream = WatchStream(service, resume_token="0123abcd.5")
    await stream.until(lambda: len(stream.messages) >= 1)
    await stream.close()
    assert stream.messages[0].HasField("snapshot")


@pytest.mark.parametrize("token", ["nonsense", "abc.", ".5", "xyz.5", "abc.-1", "abc.5.6"])
async def test_a_token_that_does_not_parse_is_invalid(service: Service, token: str) -> None:
    call = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(resume_token=token))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    got = failure(raised.value)
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT
    assert got.error_info is not None and got.error_info.reason == "INVALID_RESUME_TOKEN"

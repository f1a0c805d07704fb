"""A WatchIndexes subscription that outlives the stream: it resubscribes when the stream breaks.

The server sends a snapshot first, then one event per change; at shutdown it ends the stream with
OK. Either way the stream is gone, so the watcher subscribes again with backoff, passing the
``resume_token`` of the last message it delivered. Where the server still holds the events after
that message (the same server, or any replica of a deployment sharing one database), the new stream
continues with them: no gap, no duplicate, and the consumer's view stays valid. Otherwise (a
restarted single server, a position no longer retained) it starts with a fresh snapshot, which
replaces the view.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

import grpc

from semsearch_client._api.v1 import admin_pb2, admin_pb2_grpc
from semsearch_client.backoff import Backoff
from semsearch_client.errors import DeadlineExceededError, SemsearchError, UnavailableError, error_from_call

log = logging.getLogger("semsearch_client")

#: Called before each wait to resubscribe: (failed subscriptions in a row, delay in seconds, the
#: error, or None when the stream simply ended because the server shut down).
OnRetry = Callable[[int, float, SemsearchError | None], None]


@dataclass(frozen=True, slots=True)
class WatchUpdate:
    """One message of the watch, with where it stands among the subscriptions.

    ``subscription`` counts the streams that delivered something (1 for the first). ``resubscribed``
    is True on the first message of every stream after the first. That message is either a
    snapshot (replace your view: events may have been missed) or, when the stream ``resumed``, the
    event right after the last message delivered (apply it: nothing was missed).
    """

    message: admin_pb2.WatchIndexesResponse
    subscription: int
    resubscribed: bool
    resumed: bool = False

    @property
    def sequence(self) -> int:
        """Position in its own stream: every subscription numbers its messages from 1."""
        return self.message.sequence

    @property
    def log_sequence(self) -> int:
        """Position in the service's event log (for a snapshot, of the last event it reflects); the
        same event has the same position on every replica. Watching every index, consecutive events
        have consecutive positions; watching some, the others' positions are skipped."""
        return self.message.log_sequence

    @property
    def resume_token(self) -> str:
        """Give it as ``watch_indexes(resume_token=...)`` to continue after this message later."""
        return self.message.resume_token

    @property
    def snapshot(self) -> admin_pb2.IndexSnapshot | None:
        """Every watched index: replace what you know. Also sent mid-stream to a lagging client."""
        return self.message.snapshot if self.message.HasField("snapshot") else None

    @property
    def event(self) -> admin_pb2.IndexEvent | None:
        """One change of one index: apply it."""
        return self.message.event if self.message.HasField("event") else None


def resubscribable(error: SemsearchError) -> bool:
    """A broken connection, a server going away or a subscription that did not start in time is
    worth another subscription; a refused request (unknown index, too many names) would be refused
    again. A stream that ends CANCELLED while this client cancelled nothing (its own cancellations
    end the watch before this is asked) was cancelled by the server: gRPC cancels the calls that
    reach it while it shuts down."""
    return (
        isinstance(error, UnavailableError | DeadlineExceededError) or error.code is grpc.StatusCode.CANCELLED
    )


def _closed_under_us(closing: Callable[[], bool]) -> bool:
    """grpc.aio reports a call cancelled by closing its channel as CancelledError; that ends the
    watch, while a cancellation of the consumer's own task must propagate."""
    task = asyncio.current_task()
    return closing() and (task is None or task.cancelling() == 0)


@dataclass(frozen=True, slots=True)
class _Policy:
    """When to resubscribe and when to give up; see ``AsyncSemsearchClient.watch_indexes``."""

    backoff: Backoff
    max_attempts: int | None
    on_retry: OnRetry | None
    fail_fast: bool
    start_timeout: float | None

    def gives_up(self, failures: int, delivered: bool) -> bool:
        if self.fail_fast and not delivered:
            return True  # the first subscription failed: nothing ever answered
        return self.max_attempts is not None and failures >= self.max_attempts


_Call = grpc.aio.UnaryStreamCall[admin_pb2.WatchIndexesRequest, admin_pb2.WatchIndexesResponse]


async def _read(call: _Call) -> admin_pb2.WatchIndexesResponse | None:
    """The stream's next message; None once the server ended it with OK."""
    message = await call.read()
    if message is grpc.aio.EOF:
        return None
    assert isinstance(message, admin_pb2.WatchIndexesResponse)
    return message


def _resuming(request: admin_pb2.WatchIndexesRequest, token: str) -> admin_pb2.WatchIndexesRequest:
    """The request of the next subscription: the same indexes, after the last message delivered."""
    if token == request.resume_token:
        return request
    again = admin_pb2.WatchIndexesRequest()
    again.CopyFrom(request)
    again.resume_token = token
    return again


class _Quiet:
    """A resumed stream that is connected but has no change to send yet."""


QUIET = _Quiet()

# A resumed stream has nothing to send until the next change. Once it has been open this long on a
# connected channel it counts as started: its end is a break to ride out, not a failed subscription.
QUIET_START_SECONDS = 1.0


async def _first(
    reading: asyncio.Future[admin_pb2.WatchIndexesResponse | None],
    start_timeout: float | None,
    resuming: bool,
    connected: Callable[[], bool],
) -> admin_pb2.WatchIndexesResponse | _Quiet | None:
    """The stream's first message, within ``start_timeout`` seconds: a server that accepts the
    connection but never answers would otherwise hold the watch forever. A resumed stream may
    rightly say nothing for a long time: once it is open on a connected channel, it is QUIET."""
    step = start_timeout
    if resuming:
        step = QUIET_START_SECONDS if start_timeout is None else min(start_timeout, QUIET_START_SECONDS)
    waited = 0.0
    while True:
        done, _ = await asyncio.wait({reading}, timeout=step)
        if done:
            return reading.result()
        if resuming and connected():
            return QUIET
        waited += step or 0.0
        if start_timeout is not None and waited >= start_timeout:
            raise DeadlineExceededError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"the stream did not start within {start_timeout:g}s"
            )


async def _updates(
    stub: admin_pb2_grpc.AdminServiceAsyncStub,
    request: admin_pb2.WatchIndexesRequest,
    policy: _Policy,
    closing: Callable[[], bool],
    metadata: tuple[tuple[str, str], ...] = (),
    connected: Callable[[], bool] = lambda: False,
) -> AsyncGenerator[WatchUpdate, None]:
    subscription = 0
    started = False  # some subscription delivered or was open and connected
    failures = 0  # subscriptions in a row that failed (one that started counts from zero)
    token = request.resume_token  # the last message's: the next subscription continues after it
    while not closing():  # closed during a backoff wait: the channel takes no new calls
        resuming = bool(token)
        call = stub.WatchIndexes(_resuming(request, token), metadata=metadata)
        error: SemsearchError | None = None
        reading: asyncio.Future[admin_pb2.WatchIndexesResponse | None] = asyncio.ensure_future(_read(call))
        try:
            first = await _first(reading, policy.start_timeout, resuming, connected)
            if first is QUIET:
                started, failures = True, 0
                first = await reading
            if isinstance(first, admin_pb2.WatchIndexesResponse):
                subscription += 1
                started, failures = True, 0
                token = first.resume_token or token
                resumed = resuming and first.HasField("event")
                yield WatchUpdate(first, subscription, resubscribed=subscription > 1, resumed=resumed)
                while (message := await _read(call)) is not None:
                    token = message.resume_token or token
                    yield WatchUpdate(message, subscription, resubscribed=False)
        except asyncio.CancelledError:
            if _closed_under_us(closing):
                return
            raise
        except grpc.aio.AioRpcError as exc:
            if closing():
                return  # the client was closed under us: the watch is over, not failed
            error = error_from_call(exc)
            if not resubscribable(error):
                raise error from exc
        except DeadlineExceededError as exc:  # the stream did not start in time
            error = exc
        finally:
            reading.cancel()  # no-op once read
            call.cancel()  # no-op when the stream already ended; stops it on aclose()/cancel
        failures += 1
        if policy.gives_up(failures, delivered=started):
            raise error or UnavailableError(
                grpc.StatusCode.UNAVAILABLE, "the watch stream ended and was not resubscribed"
            )
        delay = policy.backoff.delay(failures - 1)
        log.info(
            "watch_resubscribing attempt=%d delay_seconds=%.3f resuming=%s cause=%s",
            failures,
            delay,
            bool(token),
            error or "stream ended (server shutting down)",
        )
        if policy.on_retry is not None:
            policy.on_retry(failures, delay, error)
        await asyncio.sleep(delay)


class WatchStream:
    """Async iterator of ``WatchUpdate``; ``aclose()`` (or leaving ``async with``) ends the stream.

    It never ends on its own unless the client is closed: a broken or ended stream is resubscribed.
    It raises a ``SemsearchError`` when the server refuses the subscription (e.g. ``NotFoundError``
    for an unknown index), after ``max_attempts`` failed subscriptions in a row, and with
    ``fail_fast`` when the first subscription fails. A subscription that delivers nothing within
    ``start_timeout`` seconds fails with ``DeadlineExceededError`` (None: it may take any time),
    except a resumed one on a connected channel: it has nothing to say until the next change.
    ``connected`` tells whether the channel is connected.
    """

    def __init__(
        self,
        stub: admin_pb2_grpc.AdminServiceAsyncStub,
        request: admin_pb2.WatchIndexesRequest,
        backoff: Backoff,
        max_attempts: int | None,
        closing: Callable[[], bool],
        on_retry: OnRetry | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
        *,
        fail_fast: bool = False,
        start_timeout: float | None = None,
        connected: Callable[[], bool] = lambda: False,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, got {max_attempts}")
        if start_timeout is not None and not start_timeout > 0:
            raise ValueError(f"start_timeout must be positive or None, got {start_timeout}")
        policy = _Policy(backoff, max_attempts, on_retry, fail_fast, start_timeout)
        self._updates = _updates(stub, request, policy, closing, metadata, connected)

    def __aiter__(self) -> AsyncIterator[WatchUpdate]:
        return self

    async def __anext__(self) -> WatchUpdate:
        return await self._updates.__anext__()

    async def aclose(self) -> None:
        """Cancel the stream; later iteration ends at once. Call it from the consuming task (or
        cancel that task instead): a stream cannot be closed while another task is inside it."""
        await self._updates.aclose()

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

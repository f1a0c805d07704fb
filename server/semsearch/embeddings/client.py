"""Client for any OpenAI-compatible ``POST /v1/embeddings`` endpoint.

Returns L2-normalised float32 vectors together with the model and dimensions the provider echoed,
so callers can refuse to score a vector against an index built in another space. Build batches pass
through the provider's BuildGate (shared by every build, see build_gate.py); queries never wait for
it, and their round trips tell the gate when builds crowd the provider.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import numpy as np

from semsearch.backoff import backoff_ceiling
from semsearch.embeddings.build_gate import BuildGate
from semsearch.embeddings.errors import ProviderError, ProviderResponseError, ProviderUnavailable, SpaceMoved
from semsearch.embeddings.failures import malformed_reason, reason, timeout_reason
from semsearch.embeddings.probe import PROBE_TEXT, same_direction
from semsearch.logs import event
from semsearch.observability import NO_METRICS, Metrics, ProviderErrorKind

log = logging.getLogger(__name__)

Task = Literal["query", "document"]
_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: np.ndarray  # (n, dimensions) float32, rows L2-normalised
    model: str  # as echoed by the provider
    dimensions: int
    probe: np.ndarray | None = None  # the probe text's vector from the same request, when asked for


def api_base(url: str) -> str:
    """Accept ``http://host:port`` or ``http://host:port/v1``; return the ``.../v1`` base."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class EmbeddingProvider:
    """Batched, retrying embeddings client. One instance per provider; share it."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        query_timeout: float = 10.0,
        batch_timeout: float = 120.0,
        max_retries: int = 4,
        send_input_type: bool = True,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = api_base(url)
        self.model = model
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.query_timeout = query_timeout
        self.batch_timeout = batch_timeout
        self.max_retries = max_retries
        self.send_input_type = send_input_type
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Build batches in flight across every build at once: at most ``concurrency``, fewer while
        # queries slow down. Queries never wait for it.
        self.builds = BuildGate(concurrency)
        # Enough pooled connections for every batch in flight plus queries arriving meanwhile.
        limits = httpx.Limits(max_connections=concurrency + 16, max_keepalive_connections=concurrency + 4)
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, transport=transport, limits=limits)
        self.calls = 0  # requests sent, retries included
        # Also carries the app's metrics to the index builder, which reaches them only through here.
        self.metrics = metrics

    async def aclose(self) -> None:
        await self._http.aclose()

    async def embed_query(self, text: str, with_probe: bool = False) -> Embeddings:
        """One query vector; short timeout and a single retry, since a client is waiting.

        ``with_probe`` sends the probe text in the same request and returns its vector as ``probe``:
        proof of which model embedded the query, whatever name it was served under.
        """
        texts = [text, PROBE_TEXT] if with_probe else [text]
        started = self.builds.now()
        try:
            result = await self._request(texts, "query", self.query_timeout, min(self.max_retries, 1))
        finally:
            # Failures count too: a query that timed out behind build batches is the slowest of all.
            self.builds.query_answered(started, self.builds.now() - started)
        if not with_probe:
            return result
        return Embeddings(result.vectors[:1], result.model, result.dimensions, result.vectors[1])

    async def embed_documents(
        self,
        texts: Sequence[str],
        on_batch: Callable[[int], None] | None = None,
        expect: tuple[str, int] | None = None,
        fingerprint: Sequence[float] = (),
        on_vectors: Callable[[Sequence[str], np.ndarray], None] | None = None,
        build: bool = True,
    ) -> Embeddings:
        """Embed many texts in batches, results in input order.

        A ``build``'s batches wait for the provider's BuildGate (at most ``concurrency`` in flight
        across every build, smallest build first); ``build=False`` is for one urgent request (the
        watcher's probe), which no build delays.

        Every batch must echo the same model and dimensions (``expect`` when given) and, with a
        ``fingerprint``, carries the probe text whose vector must match it — so a model swapped
        behind the same name is caught in the first batch it answers. The first batch that does not
        match raises SpaceMoved and cancels the batches still in flight, as does any other failure
        once its retries are spent. ``on_vectors`` receives each batch's texts and vectors as soon as
        the batch is checked, so they can be stored while the other batches are still embedded.
        """
        if not texts:
            raise ValueError("embed_documents needs at least one text")
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        results: list[Embeddings | None] = [None] * len(batches)
        job = self.builds.job(len(texts)) if build else None

        async def run(position: int, batch: Sequence[str]) -> None:
            sent = [*batch, PROBE_TEXT] if fingerprint else batch
            if job is None:
                result = await self._request(sent, "document", self.batch_timeout, self.max_retries)
            else:
                async with job.slot(position):
                    started = self.builds.now()
                    result = await self._request(
                        sent,
                        "document",
                        self.batch_timeout,
                        self.max_retries,
                        on_strain=lambda: self.builds.batch_strained(started),
                    )
                self.builds.batch_answered()
            reference = expect or next(((r.model, r.dimensions) for r in results if r is not None), None)
            if reference is not None and (result.model, result.dimensions) != reference:
                raise SpaceMoved(
                    f"provider answered in {result.model}/{result.dimensions} "
                    f"while building for {reference[0]}/{reference[1]}"
                )
            if fingerprint:
                if not same_direction(result.vectors[-1], fingerprint):
                    raise SpaceMoved(
                        f"provider answered as {result.model}/{result.dimensions} from another model "
                        "(its probe vector no longer matches the space being built)"
                    )
                result = Embeddings(result.vectors[:-1], result.model, result.dimensions)
            results[position] = result
            if on_vectors is not None:
                on_vectors(batch, result.vectors)
            if on_batch is not None:
                on_batch(len(batch))

        try:
            async with asyncio.TaskGroup() as group:
                for position, batch in enumerate(batches):
                    group.create_task(run(position, batch))
        except ExceptionGroup as group_error:
            raise _first_provider_error(group_error) from None
        done = [r for r in results if r is not None]
        return Embeddings(np.concatenate([r.vectors for r in done]), done[0].model, done[0].dimensions)

    async def _request(
        self,
        texts: Sequence[str],
        task: Task,
        timeout: float,
        retries: int,
        on_strain: Callable[[], None] | None = None,
    ) -> Embeddings:
        """One request, retried; ``on_strain`` hears of each timeout or retryable HTTP status."""
        payload: dict[str, Any] = {"model": self.model, "input": list(texts), "encoding_format": "float"}
        if self.send_input_type:
            payload["input_type"] = task
        attempt = 0
        while True:
            self.calls += 1
            started = time.perf_counter()
            kind: ProviderErrorKind
            try:
                # httpx's timeout bounds each read, not the whole answer: a provider dripping a byte
                # now and then would hold the request forever. ``timeout`` bounds the attempt.
                async with asyncio.timeout(timeout):
                    response = await self._http.post("/embeddings", json=payload, timeout=timeout)
            except (TimeoutError, httpx.TimeoutException) as exc:
                failure: ProviderError = ProviderUnavailable(self._timed_out(task, timeout, exc))
                kind = "timeout"
            except httpx.ConnectError as exc:
                failure = ProviderUnavailable(f"provider unreachable at {self.url}: {reason(exc)}")
                kind = "connection"
            except httpx.TransportError as exc:  # reset, closed mid-body, protocol error
                failure = ProviderUnavailable(f"provider connection failed at {self.url}: {reason(exc)}")
                kind = "connection"
            except httpx.RequestError as exc:  # an undecodable body (e.g. a broken content-encoding)
                self.metrics.provider_request(task, time.perf_counter() - started, "bad_response")
                raise ProviderResponseError(f"provider sent an unreadable answer: {reason(exc)}") from None
            else:
                if response.status_code == 200:
                    try:
                        result = parse_response(response, len(texts))
                    except ProviderResponseError:
                        self.metrics.provider_request(task, time.perf_counter() - started, "bad_response")
                        raise
                    self.metrics.provider_request(task, time.perf_counter() - started, None)
                    return result
                failure = _status_failure(response)
                kind = _status_kind(response.status_code)
                if response.status_code not in _RETRYABLE_STATUS:
                    self.metrics.provider_request(task, time.perf_counter() - started, kind)
                    raise failure
            self.metrics.provider_request(task, time.perf_counter() - started, kind)
            if on_strain is not None and kind in ("timeout", "rate_limited", "server_error"):
                on_strain()
            if attempt >= retries:
                raise failure
            delay = self._delay(attempt, failure.retry_after)
            if delay > timeout:
                # Waiting longer than an attempt may take helps no one (a query's client is waiting):
                # give up now and pass the provider's Retry-After on to the caller.
                raise failure
            event(
                log,
                "provider_retry",
                level=logging.WARNING,
                attempt=attempt + 1,
                delay=round(delay, 3),
                error=str(failure),
                task=task,
                inputs=len(texts),
            )
            self.metrics.provider_retry(task)
            await asyncio.sleep(delay)
            attempt += 1

    def _timed_out(self, task: Task, timeout: float, exc: BaseException) -> str:
        message = f"provider timed out after {timeout:g}s: {timeout_reason(exc)}"
        busy = self.builds.in_flight
        if task == "query" and busy:
            # The likely cause: the provider was busy with a rebuild's batches.
            message += f" ({busy} build batch{'es' if busy > 1 else ''} in flight)"
        return message

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_SECONDS)
        ceiling = backoff_ceiling(self.backoff_base, self.backoff_cap, attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter so concurrent retries spread out


def _first_provider_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a failed group of batches: a space move first, else the first one."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    for wanted in (SpaceMoved, ProviderError, BaseException):
        for error in leaves:
            if isinstance(error, wanted):
                return error
    return group


def _status_failure(response: httpx.Response) -> ProviderError:
    retry_after = _retry_after(response.headers.get("retry-after"))
    detail = response.text[:300].replace("\n", " ")
    message = f"provider answered HTTP {response.status_code}: {detail}"
    if response.status_code in _RETRYABLE_STATUS:
        return ProviderUnavailable(message, retry_after)
    return ProviderResponseError(message)


def _status_kind(status: int) -> ProviderErrorKind:
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_response(response: httpx.Response, expected: int) -> Embeddings:
    """Validate an embeddings response and return normalised vectors in input order.

    Anything a provider can send ends in a ProviderResponseError, never in another exception.
    """
    try:
        body = response.json()
        model = body["model"]
        items = sorted(body["data"], key=lambda item: item["index"])
        raw = [_decode(item["embedding"]) for item in items]
        indexes = [item["index"] for item in items]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProviderResponseError(f"malformed embeddings response: {malformed_reason(exc)}") from None
    if not isinstance(model, str) or not model:
        raise ProviderResponseError("embeddings response does not name its model")
    if len(raw) != expected or indexes != list(range(expected)):
        raise ProviderResponseError(f"asked for {expected} vectors, got {len(raw)}")
    dims = {len(v) for v in raw}
    if len(dims) != 1 or 0 in dims:
        raise ProviderResponseError(f"vectors of inconsistent or zero length: {sorted(dims)}")
    try:
        vectors = np.array(raw)
    except (ValueError, TypeError, OverflowError):
        vectors = None
    if vectors is None or vectors.ndim != 2 or vectors.dtype.kind not in "iuf":
        raise ProviderResponseError("malformed embeddings response: vectors must be lists of numbers")
    vectors = vectors.astype(np.float64)  # float32 squares of large values would overflow the norm
    if not np.isfinite(vectors).all():
        raise ProviderResponseError("provider returned NaN or infinite values")
    with np.errstate(over="ignore"):  # an overflowing norm is refused just below
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any() or not np.isfinite(norms).all():
        raise ProviderResponseError("provider returned a zero vector or one too large to normalise")
    return Embeddings((vectors / norms).astype(np.float32), model, vectors.shape[1])


def _decode(embedding: Any) -> list[float] | np.ndarray:
    if isinstance(embedding, str):  # encoding_format=base64: little-endian float32
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
    if not isinstance(embedding, list):
        raise TypeError(f"embedding is {type(embedding).__name__}, not a list")
    return embedding

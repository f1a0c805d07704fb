"""Embedding-space identity: model and dimensions echoed by the provider, plus a fingerprint vector."""

from __future__ import annotations

from dataclasses import dataclass

from semsearch.embeddings.client import EmbeddingProvider, Embeddings
from semsearch.embeddings.digest import fingerprint_digest as digest_of
from semsearch.embeddings.errors import SpaceMoved
from semsearch.embeddings.probe import PROBE_TEXT, SAME_SPACE_COSINE, same_direction

__all__ = ["PROBE_TEXT", "SAME_SPACE_COSINE", "EmbeddingSpace", "probe_space"]


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    model: str
    dimensions: int
    fingerprint: tuple[float, ...] = ()  # the probe text embedded as a document
    # The probe embedded as a query: what the probe sent with each query must match. Part of the
    # identity too: a space recorded with another model's query probe must be re-probed and rebuilt,
    # or it would admit that model's queries. Empty when the space was never probed as a query.
    query_fingerprint: tuple[float, ...] = ()

    def same_as(self, other: EmbeddingSpace | None) -> bool:
        """Same model, same dimensions and, where both sides know them, fingerprints (document and
        query) with cosine >= 0.999."""
        if other is None or self.model != other.model or self.dimensions != other.dimensions:
            return False
        return _alike(self.fingerprint, other.fingerprint) and _alike(
            self.query_fingerprint, other.query_fingerprint
        )

    @property
    def fingerprint_digest(self) -> str:
        """A short name of the document fingerprint (see ``digest``); empty when not probed."""
        return digest_of(self.fingerprint)

    @property
    def query_fingerprint_digest(self) -> str:
        """A short name of the query fingerprint; empty when never probed as a query."""
        return digest_of(self.query_fingerprint)

    def matches_echo(self, model: str, dimensions: int) -> bool:
        """Whether a vector echoed as (model, dimensions) may be scored against this space."""
        return self.model == model and self.dimensions == dimensions

    def admits(self, query: Embeddings) -> bool:
        """Whether a query embedding may be scored against this space: the echo matches and, when
        both sides have one, the probe embedded with the query matches the space's query probe."""
        if not self.matches_echo(query.model, query.dimensions):
            return False
        if query.probe is None or not self.query_fingerprint:
            return True
        return same_direction(query.probe, self.query_fingerprint)

    def describe(self) -> str:
        return f"{self.model}/{self.dimensions}"


def _alike(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return not a or not b or same_direction(a, b)


async def probe_space(provider: EmbeddingProvider, known: EmbeddingSpace | None = None) -> EmbeddingSpace:
    """Ask the provider for the probe text's vectors and derive the space it is serving.

    The probe is embedded as a document (what build batches must match) and as a query (what each
    query's probe must match). Those are two requests, so a provider that switches models between
    them could pair one model's document probe with another's query probe. While the space is still
    ``known`` and both answers agree with it, two requests settle it; otherwise the pair is asked
    twice (document, query, document, query) and both rounds must agree, or SpaceMoved is raised.
    """
    document = await provider.embed_documents([PROBE_TEXT], build=False)
    space = EmbeddingSpace(document.model, document.dimensions, _values(document))
    if not provider.send_input_type:  # queries are embedded exactly like documents
        return EmbeddingSpace(space.model, space.dimensions, space.fingerprint, space.fingerprint)
    query = await provider.embed_query(PROBE_TEXT)
    if known is not None and known.query_fingerprint and space.same_as(known):
        paired = EmbeddingSpace(space.model, space.dimensions, space.fingerprint, _values(query))
        if _echoes(query, space) and paired.same_as(known):
            return known  # unchanged: the same object, so nothing keyed on it is dropped
    # New, or the query probe no longer matches what was recorded: a second round must confirm it.
    document_again = await provider.embed_documents([PROBE_TEXT], build=False)
    query_again = await provider.embed_query(PROBE_TEXT)
    confirmed = (
        _echoes(query, space)
        and _echoes(document_again, space)
        and _echoes(query_again, space)
        and same_direction(document_again.vectors[0], space.fingerprint)
        and same_direction(query_again.vectors[0], query.vectors[0])
    )
    if not confirmed:
        raise SpaceMoved(f"provider changed model while being probed (first answered as {space.describe()})")
    return EmbeddingSpace(space.model, space.dimensions, space.fingerprint, _values(query))


def _values(embedded: Embeddings) -> tuple[float, ...]:
    return tuple(float(x) for x in embedded.vectors[0])


def _echoes(embedded: Embeddings, space: EmbeddingSpace) -> bool:
    return space.matches_echo(embedded.model, embedded.dimensions)

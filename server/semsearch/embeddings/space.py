"""Embedding-space identity: model and dimensions echoed by the provider, plus a fingerprint vector."""

from __future__ import annotations

from dataclasses import dataclass, field

from semsearch.embeddings.client import EmbeddingProvider, Embeddings
from semsearch.embeddings.errors import SpaceMoved
from semsearch.embeddings.probe import PROBE_TEXT, SAME_SPACE_COSINE, same_direction

__all__ = ["PROBE_TEXT", "SAME_SPACE_COSINE", "EmbeddingSpace", "probe_space"]


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    model: str
    dimensions: int
    fingerprint: tuple[float, ...] = ()  # the probe text embedded as a document
    # The probe embedded as a query: what the probe sent with each query must match. Not part of
    # the identity (the document fingerprint already is); empty when the space was never probed.
    query_fingerprint: tuple[float, ...] = field(default=(), compare=False)

    def same_as(self, other: EmbeddingSpace | None) -> bool:
        """Same model, same dimensions and, when both are known, fingerprints with cosine >= 0.999."""
        if other is None or self.model != other.model or self.dimensions != other.dimensions:
            return False
        if not self.fingerprint or not other.fingerprint:
            return True
        return same_direction(self.fingerprint, other.fingerprint)

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


async def probe_space(provider: EmbeddingProvider, known: EmbeddingSpace | None = None) -> EmbeddingSpace:
    """Ask the provider for the probe text's vector and derive the space it is serving.

    The probe is embedded as a document (the identity) and as a query (what queries' probes must
    match); while the space is still ``known``, its query probe is reused and a probe costs one call,
    otherwise three (document, query, document again to be sure one model answered them all).
    """
    document = await provider.embed_documents([PROBE_TEXT])
    space = EmbeddingSpace(document.model, document.dimensions, tuple(float(x) for x in document.vectors[0]))
    if known is not None and known.query_fingerprint and space.same_as(known):
        return EmbeddingSpace(space.model, space.dimensions, space.fingerprint, known.query_fingerprint)
    if not provider.send_input_type:
        return EmbeddingSpace(space.model, space.dimensions, space.fingerprint, space.fingerprint)
    query = await provider.embed_query(PROBE_TEXT)
    # The two probes are two requests: make sure one model answered both, or the query probe
    # recorded here would refuse every query until the next change.
    again = await provider.embed_documents([PROBE_TEXT])
    if (query.model, query.dimensions) != (space.model, space.dimensions) or not same_direction(
        again.vectors[0], space.fingerprint
    ):
        raise SpaceMoved(f"provider changed model while being probed (first answered as {space.describe()})")
    return EmbeddingSpace(
        space.model, space.dimensions, space.fingerprint, tuple(float(x) for x in query.vectors[0])
    )

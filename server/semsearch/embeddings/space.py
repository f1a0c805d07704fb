"""Embedding-space identity: model and dimensions echoed by the provider, plus a fingerprint vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semsearch.embeddings.client import EmbeddingProvider

# A fixed text whose vector identifies the model actually serving, whatever name it is served under.
PROBE_TEXT = "semsearch embedding-space probe: validators attest to blocks while the proxy serves vectors."
SAME_SPACE_COSINE = 0.999


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    model: str
    dimensions: int
    fingerprint: tuple[float, ...] = ()

    def same_as(self, other: EmbeddingSpace | None) -> bool:
        """Same model, same dimensions and, when both are known, fingerprints with cosine >= 0.999."""
        if other is None or self.model != other.model or self.dimensions != other.dimensions:
            return False
        if not self.fingerprint or not other.fingerprint:
            return True
        a = np.asarray(self.fingerprint, dtype=np.float64)
        b = np.asarray(other.fingerprint, dtype=np.float64)
        if a.shape != b.shape:
            return False
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) >= SAME_SPACE_COSINE

    def matches_echo(self, model: str, dimensions: int) -> bool:
        """Whether a vector echoed as (model, dimensions) may be scored against this space."""
        return self.model == model and self.dimensions == dimensions

    def describe(self) -> str:
        return f"{self.model}/{self.dimensions}"


async def probe_space(provider: EmbeddingProvider) -> EmbeddingSpace:
    """Ask the provider for the probe text's vector and derive the space it is serving."""
    result = await provider.embed_documents([PROBE_TEXT])
    return EmbeddingSpace(
        model=result.model,
        dimensions=result.dimensions,
        fingerprint=tuple(float(x) for x in result.vectors[0]),
    )

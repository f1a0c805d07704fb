"""A short, stable name for a fingerprint vector, sent in place of its hundreds of floats.

The digest hashes the signs of the components, not their values: two servers of the same model
compute the probe's vector with float arithmetic that differs in the last digits (another CPU,
another BLAS), which changes a sign only for a component within that noise of zero, while two
different models disagree on about half the signs. Whether two spaces are the same is still decided
on the vectors (cosine, see ``probe``); the digest names a space for people and clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

DIGEST_HEX_DIGITS = 12  # 48 bits: collisions between the few spaces one deployment meets are negligible


def fingerprint_digest(fingerprint: Sequence[float] | np.ndarray) -> str:
    """The first 12 hex digits of SHA-256 over one byte per float32 component: 1 positive, 2 negative,
    0 zero (or NaN).

    Empty for an empty fingerprint (a space not probed yet). The same definition is documented on
    ``EmbeddingSpace.fingerprint_digest`` in the contract, for clients that compute it themselves.
    """
    values = np.asarray(fingerprint, dtype=np.float32)  # the wire's precision: clients see these values
    if not values.size:
        return ""
    signs = np.where(values > 0, 1, np.where(values < 0, 2, 0)).astype(np.uint8)
    return hashlib.sha256(signs.tobytes()).hexdigest()[:DIGEST_HEX_DIGITS]

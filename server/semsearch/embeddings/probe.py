"""The probe: a fixed text whose vector identifies the model actually serving, whatever its name.

It is embedded on its own to fingerprint a space, and alongside every build batch and every query
so that each answer proves which model produced it — a model swapped behind an unchanged name is
caught in the very request it first answers, not at the next probe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PROBE_TEXT = "semsearch embedding-space probe: validators attest to blocks while the proxy serves vectors."
SAME_SPACE_COSINE = 0.999


def same_direction(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> bool:
    """Whether two probe vectors come from the same model (cosine >= SAME_SPACE_COSINE)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or not x.size:
        return False
    norms = float(np.linalg.norm(x) * np.linalg.norm(y))
    return norms > 0 and float(x @ y) / norms >= SAME_SPACE_COSINE

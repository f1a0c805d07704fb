"""A deterministic, non-semantic embedding by feature hashing: the test oracle.

Tests can recompute any score exactly from the text alone, so the function must not depend on
process state: features are hashed with keyed BLAKE2b (never Python's salted ``hash()``), and the key is
derived from the model name, so each name ("hash-v1", "hash-v2", ...) is its own unrelated space.
Features are lower-cased words (weight 1) plus the character trigrams of each word (smaller weight),
so texts sharing words, or word stems, score clearly above unrelated texts.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

WORD = re.compile(r"\w+")
WORD_WEIGHT = 1.0
# Low enough that a shared word outweighs the many shared trigrams ("ing", "the") of unrelated texts.
TRIGRAM_WEIGHT = 0.25
# Bounds the memo of per-word hashes (a few hundred bytes each).
_CACHE_SIZE = 1 << 16


@functools.lru_cache(maxsize=64)
def _key(model: str) -> bytes:
    # BLAKE2b keys are at most 64 bytes; hashing the name first admits names of any length.
    return hashlib.blake2b(model.encode("utf-8"), digest_size=32, person=b"semsearch-model").digest()


def _feature_hash(key: bytes, feature: str) -> int:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little")


def word_features(word: str) -> list[tuple[str, float]]:
    """The weighted features of one (lower-cased) word: itself, then its padded character trigrams."""
    padded = f"<{word}>"
    trigrams = (("t:" + padded[i : i + 3], TRIGRAM_WEIGHT) for i in range(len(padded) - 2))
    return [("w:" + word, WORD_WEIGHT), *trigrams]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _word_hashes(key: bytes, word: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    # Cached per word, not per feature: one lookup replaces ~10 hash calls for a vocabulary that repeats.
    features = word_features(word)
    return tuple(_feature_hash(key, f) for f, _ in features), tuple(w for _, w in features)


@functools.lru_cache(maxsize=64)
def _fallback(model: str, dimensions: int) -> npt.NDArray[np.float32]:
    """A fixed unit vector for texts without any word (e.g. ""), so they never embed to zero or NaN."""
    key = _key(model)
    blocks: list[bytes] = []
    counter = 0
    while len(blocks) * 512 < dimensions:  # 64-byte digests give 512 sign bits each
        blocks.append(hashlib.blake2b(counter.to_bytes(8, "little"), key=key, person=b"empty").digest())
        counter += 1
    bits = np.unpackbits(np.frombuffer(b"".join(blocks), dtype=np.uint8))[:dimensions]
    vector = np.where(bits == 1, 1.0, -1.0).astype(np.float32) / np.float32(np.sqrt(dimensions))
    vector.setflags(write=False)
    return vector


def hash_embed(texts: Sequence[str], model: str, dimensions: int = 384) -> npt.NDArray[np.float32]:
    """Embed ``texts`` into the hashing space named ``model``: float32, shape (n, dimensions), unit rows."""
    if dimensions <= 0:
        raise ValueError(f"dimensions must be positive, got {dimensions}")
    key = _key(model)
    per_text: list[int] = []
    hashes: list[int] = []
    weights: list[float] = []
    for text in texts:
        before = len(hashes)
        for word in WORD.findall(text.lower()):
            word_hashes, word_weights = _word_hashes(key, word)
            hashes.extend(word_hashes)
            weights.extend(word_weights)
        per_text.append(len(hashes) - before)
    n = len(texts)
    # One scatter-add for the whole batch: slot = hash mod dimensions, sign = the hash's top bit.
    rows = np.repeat(np.arange(n, dtype=np.int64), per_text)
    h = np.asarray(hashes, dtype=np.uint64)
    slots = rows * dimensions + (h % np.uint64(dimensions)).astype(np.int64)
    signed = np.where(h >> np.uint64(63) == 1, -1.0, 1.0) * np.asarray(weights, dtype=np.float64)
    flat = np.bincount(slots, weights=signed, minlength=n * dimensions)
    vectors = flat.reshape(n, dimensions)
    norms = np.linalg.norm(vectors, axis=1)
    # Features can cancel out exactly (rare) as well as be absent: both get the fixed vector.
    empty = norms == 0
    norms[empty] = 1.0
    out: npt.NDArray[np.float32] = (vectors / norms[:, None]).astype(np.float32)
    if empty.any():
        out[empty] = _fallback(model, dimensions)
    return out

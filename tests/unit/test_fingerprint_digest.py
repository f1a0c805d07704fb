"""The fingerprint digest: what names a space in every response instead of its vectors."""

from __future__ import annotations

import numpy as np

from semsearch.api.v1 import types_pb2
from semsearch.embeddings import EmbeddingSpace
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.embeddings.space import PROBE_TEXT
from semsearch.proxy.hashing import hash_embed
from semsearch.service import convert
from semsearch_client.messages import fingerprint_digest as client_digest
from semsearch_client.messages import space_identity


def probe(model: str, dimensions: int = 384) -> np.ndarray:
    return hash_embed([PROBE_TEXT], model, dimensions)[0]


def test_the_digest_is_the_documented_one() -> None:
    # SHA-256 of the bytes 01 02 00 01 (positive, negative, zero, positive): pinned, since clients
    # and other servers compute it from the contract's description.
    assert fingerprint_digest([0.5, -0.25, 0.0, 1e-3]) == "157655bf7c7e"
    assert fingerprint_digest([]) == ""
    assert fingerprint_digest([-0.0, float("nan")]) == fingerprint_digest([0.0, 0.0])


def test_servers_of_one_model_agree_despite_float_noise_scale_and_precision() -> None:
    v1 = probe("hash-v1")
    rng = np.random.default_rng(3)
    # Another CPU's last digits: relative on the hashing model's vector (exactly zero where no word
    # hashed), absolute on a dense one like a neural model's (a sign flips only within it of zero).
    assert fingerprint_digest(v1 * (1 + rng.normal(0, 1e-6, v1.shape))) == fingerprint_digest(v1)
    dense = rng.normal(0, 0.05, 384)
    assert fingerprint_digest(dense + rng.normal(0, 1e-7, 384)) == fingerprint_digest(dense)
    assert fingerprint_digest(v1.astype(np.float64) * 3.0) == fingerprint_digest(v1)  # not normalised
    assert fingerprint_digest(tuple(float(x) for x in v1)) == fingerprint_digest(v1)


def test_another_model_or_dimension_count_has_another_digest() -> None:
    v1 = fingerprint_digest(probe("hash-v1"))
    assert fingerprint_digest(probe("hash-v2")) != v1
    assert fingerprint_digest(probe("hash-v1", 256)) != v1
    assert len(v1) == 12 and int(v1, 16) >= 0


def test_the_python_client_computes_the_same_digest_from_the_vectors() -> None:
    rng = np.random.default_rng(5)
    for vector in [probe("hash-v1"), probe("hash-v3"), rng.normal(0, 0.05, 768).astype(np.float32)]:
        message = types_pb2.EmbeddingSpace(fingerprint=vector.tolist())  # as GetEmbeddingSpace sends it
        assert client_digest(message.fingerprint) == fingerprint_digest(vector)


def test_a_space_message_is_named_by_digests_and_only_getembeddingspace_has_vectors() -> None:
    space = EmbeddingSpace("hash-v1", 384, tuple(probe("hash-v1")), tuple(-probe("hash-v1")))
    named = convert.space(space)
    assert (named.model, named.dimensions) == ("hash-v1", 384)
    assert named.fingerprint_digest == fingerprint_digest(space.fingerprint)
    assert named.query_fingerprint_digest == fingerprint_digest(space.query_fingerprint)
    assert named.query_fingerprint_digest != named.fingerprint_digest
    assert not named.fingerprint and not named.query_fingerprint
    full = convert.space_with_vectors(space)
    assert list(full.fingerprint) == list(np.float32(space.fingerprint))
    assert list(full.query_fingerprint) == list(np.float32(space.query_fingerprint))
    assert space_identity(full) == space_identity(named)
    # A server older than the digests sent the vector alone: the client digests it the same way.
    older = types_pb2.EmbeddingSpace(model="hash-v1", dimensions=384, fingerprint=space.fingerprint)
    assert space_identity(older)[:3] == space_identity(named)[:3]

"""The hashing model is the test oracle: deterministic, normalised, one unrelated space per name."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import numpy as np
import pytest

from semsearch.proxy.hashing import hash_embed

SENTENCE = "Restarting the validator client when it hangs after a chain reorganisation"


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_shape_dtype_and_unit_rows() -> None:
    texts = [SENTENCE, "short", "Ünïcödé wörds ünd 数字 123", "x " * 5000, ""]
    vectors = hash_embed(texts, "hash-v1")
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_dimensions_parameter() -> None:
    vectors = hash_embed([SENTENCE, "other words"], "hash-v1", dimensions=64)
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        hash_embed([SENTENCE], "hash-v1", dimensions=0)


def test_empty_batch() -> None:
    assert hash_embed([], "hash-v1").shape == (0, 384)


def test_deterministic_and_independent_of_batch() -> None:
    texts = [SENTENCE, "fee market for blob transactions", "the cat sat on the mat"]
    batch = hash_embed(texts, "hash-v1")
    assert np.array_equal(batch, hash_embed(texts, "hash-v1"))
    for i, text in enumerate(texts):  # a text embeds the same alone as inside any batch
        assert np.array_equal(hash_embed([text], "hash-v1")[0], batch[i])


def test_same_vectors_in_another_process_with_another_hash_seed() -> None:
    # Python's hash() is salted per process; the oracle must not be.
    code = (
        "import base64, sys; from semsearch.proxy.hashing import hash_embed; "
        "sys.stdout.write(base64.b64encode(hash_embed([sys.argv[1]], 'hash-v1').tobytes()).decode())"
    )
    expected = hash_embed([SENTENCE], "hash-v1")
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, SENTENCE],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert np.array_equal(np.frombuffer(base64.b64decode(out), dtype=np.float32), expected[0])


def test_case_and_punctuation_do_not_matter() -> None:
    a, b = hash_embed(["Hello, World!", "hello world"], "hash-v1")
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "text",
    [SENTENCE, "how do I restart a stuck validator", "fee market for blob transactions", "a"],
)
def test_model_names_are_unrelated_spaces(text: str) -> None:
    v1, v2 = hash_embed([text], "hash-v1")[0], hash_embed([text], "hash-v2")[0]
    assert abs(cos(v1, v2)) < 0.2


def test_model_names_unrelated_on_average() -> None:
    texts = [f"document number {i} about topic {i * 7 % 13} and item {i * 3}" for i in range(200)]
    same_text = np.sum(hash_embed(texts, "hash-v1") * hash_embed(texts, "hash-v2"), axis=1)
    assert abs(float(same_text.mean())) < 0.03
    assert float(np.abs(same_text).max()) < 0.3


@pytest.mark.parametrize(
    ("anchor", "related", "unrelated"),
    [
        ("the validator client hangs", "restart the validator client", "fee market for blob transactions"),
        ("fee market for blob transactions", "blob transactions pay a separate fee", "the cat sat on a mat"),
        ("the cat sat on a mat", "a cat on a mat", "validator client hangs"),
    ],
)
def test_shared_words_score_clearly_higher(anchor: str, related: str, unrelated: str) -> None:
    a, r, u = hash_embed([anchor, related, unrelated], "hash-v1")
    assert cos(a, r) > cos(a, u) + 0.25


def test_shared_stems_score_higher_than_nothing_shared() -> None:
    # character trigrams: "restarting" is close to "restart", not to "blob"
    a, r, u = hash_embed(["restart", "restarting", "blob"], "hash-v1")
    assert cos(a, r) > cos(a, u) + 0.15


def test_text_without_words_gets_a_fixed_unit_vector() -> None:
    empty, punctuation, again = hash_embed(["", "!!! ...", ""], "hash-v1")
    assert np.isfinite(empty).all()
    assert np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(empty, again)
    assert np.array_equal(empty, punctuation)
    other_space = hash_embed([""], "hash-v2")[0]
    assert abs(cos(empty, other_space)) < 0.2

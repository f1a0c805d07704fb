"""The model registry: names resolve to models, unknown names fail with the list of known ones."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import HashModel, UnknownModelError, known_models, load_model


@pytest.mark.parametrize("name", ["hash-v1", "hash-v2", "hash-anything at all"])
def test_any_hash_name_loads_a_hash_model(name: str) -> None:
    model = load_model(name)
    assert isinstance(model, HashModel)
    assert model.name == name
    assert model.dimensions == 384


def test_hash_model_is_the_oracle_for_both_input_types() -> None:
    model = load_model("hash-v1")
    texts = ["a query", "a document about queries"]
    expected = hash_embed(texts, "hash-v1")
    assert np.array_equal(model.embed(texts, "query"), expected)
    assert np.array_equal(model.embed(texts, "document"), expected)


@pytest.mark.parametrize(
    "name", ["nope", "hash-", "hash", "e5-large", "E5-small", "", "MiniLM", "minilm-l12", "all-MiniLM-L6-v2"]
)
def test_unknown_names_list_the_known_models(name: str) -> None:
    with pytest.raises(UnknownModelError) as caught:
        load_model(name)
    message = str(caught.value)
    assert repr(name) in message
    assert "e5-small, minilm, hash-<anything>" in message


def test_known_models() -> None:
    assert known_models() == ["e5-small", "minilm", "hash-<anything>"]


def test_unknown_model_error_is_a_value_error() -> None:
    assert issubclass(UnknownModelError, ValueError)

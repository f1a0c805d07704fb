"""The rules a migration checks before it talks to anyone: the regime setting and the model name."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.config import ConfigError, parse_config
from semsearch.errors import InvalidArgument
from semsearch.lifecycle.migration import Regime, check_model_name

INDEX = [{"name": "docs", "kind": "markdown", "path": "docs"}]


def regime_of(env: dict[str, str], **embeddings: str) -> Regime:
    config = parse_config({"embeddings": embeddings, "index": INDEX}, Path("/srv"), env=env)
    return Regime(config.embeddings.regime)


def test_the_regime_is_provider_chosen_unless_configured() -> None:
    assert regime_of({}) is Regime.PROVIDER_CHOSEN
    assert regime_of({}, regime="client-chosen") is Regime.CLIENT_CHOSEN
    assert regime_of({"SEMSEARCH_EMBEDDINGS_REGIME": "client-chosen"}) is Regime.CLIENT_CHOSEN


def test_an_unknown_regime_stops_start_up_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"\[embeddings\]\.regime: expected one of provider-chosen"):
        regime_of({}, regime="client")


@pytest.mark.parametrize("name", ["hash-v2", "text-embedding-3-small", "BAAI/bge-m3", "x" * 200])
def test_model_names_a_provider_may_use_are_accepted(name: str) -> None:
    check_model_name(name)


@pytest.mark.parametrize("name", ["", "   ", " minilm", "minilm\n", "mini\tlm", "x" * 201])
def test_empty_padded_control_or_oversized_names_are_invalid(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_model_name(name)
    assert (caught.value.reason, caught.value.field) == ("INVALID_MODEL", "model")

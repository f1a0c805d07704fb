"""Identifier pinning: which documents a query names, per corpus kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.config import ConfigError, parse_config
from semsearch.corpus import Chunk, load_corpus
from semsearch.index.identifiers import Identifiers
from semsearch.index.lexical import LexicalIndex
from tests.support.corpora import FIXTURE_INDEXES

EIP_TEXT = """---
eip: {number}
title: {title}
status: Draft
type: Standards Track
category: Core
created: 2024-01-01
---

## Abstract

{body}
"""


def fixture(kind: str) -> list[Chunk]:
    ix = next(ix for ix in FIXTURE_INDEXES if ix["kind"] == kind)
    return [c for d in load_corpus(kind, Path(ix["path"]), {}) for c in d.chunks]


@pytest.fixture
def eips(tmp_path: Path) -> list[Chunk]:
    """EIP-4844 beside the numbers it contains (484, 44) and one it is contained in (14844)."""
    for number, title, body in [
        (4844, "Shard Blob Transactions", "A new transaction type carries blobs of data for rollups."),
        (484, "Unrelated Proposal", "Mentions EIP-4844 in passing, as related work."),
        (44, "Another Proposal", "Nothing about blobs."),
        (14844, "A Later Proposal", "Also nothing about blobs."),
    ]:
        (tmp_path / f"eip-{number}.md").write_text(EIP_TEXT.format(number=number, title=title, body=body))
    return [c for d in load_corpus("eip", tmp_path, {}) for c in d.chunks]


@pytest.mark.parametrize(
    "query",
    [
        "EIP-4844",
        "eip 4844",
        "EIP4844",
        "eip_4844",
        "4844",
        "4844 blob fees",  # bare, in a short query
        "what does EIP-4844 change for rollups",
        "erc-4844",
    ],
)
def test_an_eip_number_names_its_eip_with_or_without_prefix(eips: list[Chunk], query: str) -> None:
    assert Identifiers("eip", eips).named_in(query) == ["eip-4844"]


@pytest.mark.parametrize(
    "query",
    [
        "how does blob gas pricing work for 4844 style transactions today",  # bare, in a sentence
        "raise the limit to 44 blobs",
        "EIP-48440",
        "0x4844",
        "4844.5",
        "blobs",
    ],
)
def test_numbers_that_do_not_name_an_eip_pin_nothing(eips: list[Chunk], query: str) -> None:
    assert Identifiers("eip", eips).named_in(query) == []


def test_several_eips_are_named_in_the_query_order(eips: list[Chunk]) -> None:
    assert Identifiers("eip", eips).named_in("EIP-44 versus EIP-4844") == ["eip-44", "eip-4844"]
    assert Identifiers("eip", eips).named_in("484 44") == ["eip-484", "eip-44"]


def test_pinning_can_be_turned_off(eips: list[Chunk]) -> None:
    assert Identifiers("eip", eips, enabled=False).named_in("EIP-4844") == []
    assert LexicalIndex(eips, "eip", pin_identifiers=False).identifiers.named_in("4844") == []
    assert LexicalIndex(eips, "eip").identifiers.named_in("4844") == ["eip-4844"]


@pytest.mark.parametrize(
    "query",
    [
        "Restart a Stuck Validator",  # its front-matter name
        "restart-a-stuck-validator",  # its id
        "restart_stuck_validator",  # its file name
        "runbook: restart a stuck validator, please",
    ],
)
def test_a_runbook_is_named_by_its_name_id_or_file(query: str) -> None:
    assert Identifiers("markdown", fixture("markdown")).named_in(query) == ["restart-a-stuck-validator"]


def test_words_of_a_runbook_name_that_are_not_consecutive_name_nothing() -> None:
    runbooks = Identifiers("markdown", fixture("markdown"))
    assert runbooks.named_in("the validator is stuck, restart it") == []
    assert runbooks.named_in("database disk is full") == []
    assert runbooks.named_in("Database disk full") == ["database-disk-full"]


def test_a_one_word_name_pins_only_as_the_whole_query() -> None:
    chunks = [Chunk("cache#0", "cache", "Cache", "", "text", "text", "cache.md", {"name": "Cache"})]
    runbooks = Identifiers("markdown", chunks)
    assert runbooks.named_in("cache") == ["cache"]
    assert runbooks.named_in("how does the cache work") == []


def test_an_example_name_pins_every_example_of_that_name() -> None:
    examples = Identifiers("examples", fixture("examples"))
    assert examples.named_in("disk usage percent") == [
        "prometheus/disk-usage-percent",
        "prometheus/disk-usage-percent-2",
    ]
    assert examples.named_in("Beacon node peer count query") == ["prometheus/beacon-node-peer-count"]
    assert examples.named_in("peer count") == []


def test_a_spec_is_named_by_its_path() -> None:
    specs = Identifiers("spec", fixture("spec"))
    assert specs.named_in("deneb/fork-choice") == ["deneb/fork-choice"]
    assert specs.named_in("what changed in deneb fork choice") == ["deneb/fork-choice"]
    assert specs.named_in("eip9905 beacon chain") == ["_features/eip9905/beacon-chain"]
    assert specs.named_in("fork choice") == []


def test_the_configuration_turns_pinning_off_per_index(tmp_path: Path) -> None:
    def config(**index: object) -> list[bool]:
        raw = {"index": [{"name": "eips", "kind": "eip", "path": str(tmp_path), **index}]}
        return [ix.pin_identifiers for ix in parse_config(raw, tmp_path, env={}).indexes]

    assert config() == [True]
    assert config(pin_identifiers=False) == [False]
    with pytest.raises(ConfigError, match="pin_identifiers"):
        config(pin_identifiers="no")

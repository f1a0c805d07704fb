"""Kind "examples": YAML registries of query examples, one document and chunk per example."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.corpus import CorpusError, Document, load_corpus


@pytest.fixture
def examples(fixture_corpora: Path) -> list[Document]:
    return load_corpus("examples", fixture_corpora / "examples", {})


def test_ids_in_file_then_yaml_order(examples: list[Document]) -> None:
    assert [document.id for document in examples] == [
        "clickhouse/median-block-arrival-time-by-slot",
        "clickhouse/blobs-per-block-over-a-day",
        "loki/validator-client-errors",
        "prometheus/missed-attestations-per-validator",
        "prometheus/beacon-node-peer-count",
        "prometheus/disk-usage-percent",
        "prometheus/disk-usage-percent-2",  # the same name again in the same file
    ]
    assert all(len(document.chunks) == 1 for document in examples)
    assert examples[2].source == "loki.yml"


def test_what_is_matched_is_the_prose_and_the_names_the_query_uses(examples: list[Document]) -> None:
    by_id = {document.id: document for document in examples}
    [chunk] = by_id["prometheus/beacon-node-peer-count"].chunks
    assert chunk.id == "prometheus/beacon-node-peer-count#0"
    assert chunk.title == "Beacon node peer count"
    assert chunk.section == "Validator Health"
    assert chunk.body == (
        "Number of connected peers of each beacon node; below ten is a warning sign\n\n"
        "min by (instance) (libp2p_peers)"
    )
    # Matched: name, file and category, description, the identifiers of the query. Not its code.
    assert chunk.text == (
        "Beacon node peer count\nprometheus: Validator Health\n\n"
        "Number of connected peers of each beacon node; below ten is a warning sign\nUses: libp2p_peers"
    )
    by_id = {document.id: document for document in examples}
    sql = by_id["clickhouse/median-block-arrival-time-by-slot"].chunks[0]
    assert "SELECT" in sql.body and "SELECT" not in sql.text and "quantile" not in sql.text
    assert "Uses: propagation_slot_start_diff, median_ms, beacon_api_eth_v1_events_block," in sql.text


def test_multiline_query_keeps_its_layout(examples: list[Document]) -> None:
    [chunk] = examples[0].chunks
    assert "SELECT\n    slot,\n    quantile(0.5)(propagation_slot_start_diff) AS median_ms\n" in chunk.body
    assert chunk.body.endswith("ORDER BY slot")


def test_metadata(examples: list[Document]) -> None:
    by_id = {document.id: document for document in examples}
    assert by_id["prometheus/disk-usage-percent-2"].metadata == {
        "name": "Disk usage percent",
        "cluster": "prometheus-db",
        "category": "host_resources",
        "file": "prometheus",
    }
    loki = by_id["loki/validator-client-errors"]
    assert loki.metadata == {
        "name": "Validator client errors",
        "limit": "100",
        "category": "loki_basics",
        "file": "loki",
    }
    assert loki.chunks[0].metadata == loki.metadata
    assert "query" not in loki.metadata and "description" not in loki.metadata


def _write(tmp_path: Path, text: str, name: str = "reg.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_category_without_name_uses_its_key_and_non_categories_are_skipped(tmp_path: Path) -> None:
    text = "version: 1\nmisc:\n  examples:\n    - name: Only name\n"
    [document] = load_corpus("examples", _write(tmp_path, text), {})
    assert (document.id, document.chunks[0].section, document.chunks[0].text) == (
        "reg/only-name",
        "misc",
        "Only name\nreg: misc",
    )


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"reg\.yaml: malformed YAML"):
        load_corpus("examples", _write(tmp_path, "cat:\n  examples: [\n"), {})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"reg\.yaml: expected a mapping"):
        load_corpus("examples", _write(tmp_path, "- a\n- b\n"), {})


def test_examples_must_be_a_list_of_mappings(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"reg\.yaml: category 'cat': 'examples' must be a list"):
        load_corpus("examples", _write(tmp_path, "cat:\n  examples: just text\n"), {})


def test_example_without_name_is_an_error(tmp_path: Path) -> None:
    text = "cat:\n  examples:\n    - name: ok\n      query: up\n    - query: up\n"
    with pytest.raises(CorpusError, match=r"reg\.yaml: category 'cat': example 1 has no 'name'"):
        load_corpus("examples", _write(tmp_path, text), {})


def test_examples_takes_no_options(fixture_corpora: Path) -> None:
    with pytest.raises(CorpusError, match=r"unknown option 'max_chunk_chars'.*accepted: none"):
        load_corpus("examples", fixture_corpora / "examples", {"max_chunk_chars": 500})

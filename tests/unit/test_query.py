"""Validation of search requests: every limit rejects with a reason naming the field."""

from __future__ import annotations

import math

import pytest

from semsearch.errors import InvalidArgument
from semsearch.search.query import DEFAULT_TOP_K, MAX_INDEX_NAMES, MAX_QUERY_CHARS, MAX_TOP_K, validate_query


def test_defaults_are_applied() -> None:
    q = validate_query("  what is a blob  ")
    assert q.text == "what is a blob"
    assert q.top_k == DEFAULT_TOP_K
    assert q.min_score == -1.0
    assert q.indexes == ()


def test_duplicate_index_names_are_searched_once() -> None:
    assert validate_query("q", indexes=["a", "b", "a"]).indexes == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "reason", "field"),
    [
        ({"text": ""}, "INVALID_QUERY", "query"),
        ({"text": "   \n"}, "INVALID_QUERY", "query"),
        ({"text": "x" * (MAX_QUERY_CHARS + 1)}, "INVALID_QUERY", "query"),
        ({"text": "bell\x07"}, "INVALID_QUERY", "query"),
        ({"text": "q", "top_k": -1}, "INVALID_TOP_K", "top_k"),
        ({"text": "q", "top_k": MAX_TOP_K + 1}, "INVALID_TOP_K", "top_k"),
        ({"text": "q", "min_score": math.nan}, "INVALID_MIN_SCORE", "min_score"),
        ({"text": "q", "min_score": math.inf}, "INVALID_MIN_SCORE", "min_score"),
        ({"text": "q", "min_score": 1.5}, "INVALID_MIN_SCORE", "min_score"),
        ({"text": "q", "indexes": ["x"] * (MAX_INDEX_NAMES + 1)}, "INVALID_INDEXES", "indexes"),
        ({"text": "q", "indexes": [""]}, "INVALID_INDEXES", "indexes"),
        ({"text": "q", "metadata_filter": {"": "v"}}, "INVALID_FILTER", "filter"),
        ({"text": "q", "metadata_filter": {f"k{i}": "v" for i in range(17)}}, "INVALID_FILTER", "filter"),
        ({"text": "q", "metadata_filter": {"tags\x00": "v"}}, "INVALID_FILTER", "filter"),
        ({"text": "q", "metadata_filter": {"tags": "ops\x1b[2J"}}, "INVALID_FILTER", "filter"),
        ({"text": "q", "metadata_filter": {"tags": "ops\x85"}}, "INVALID_FILTER", "filter"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(kwargs: dict[str, object], reason: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_query(**kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert caught.value.field == field


def test_limits_themselves_are_accepted() -> None:
    q = validate_query("x" * MAX_QUERY_CHARS, top_k=MAX_TOP_K, min_score=0.0)
    assert q.top_k == MAX_TOP_K
    assert q.min_score == 0.0


def test_filters_take_tabs_and_line_breaks_as_queries_do() -> None:
    q = validate_query("q", metadata_filter={"title": "two\tcolumns\r\nand lines", "tags": "é, ü"})
    assert q.metadata_filter == {"title": "two\tcolumns\r\nand lines", "tags": "é, ü"}

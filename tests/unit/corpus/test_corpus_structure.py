"""Fences, sections and blocks: the markdown structure every loader relies on."""

from __future__ import annotations

from semsearch.corpus.blocks import split_blocks, strip_html_comments
from semsearch.corpus.fences import FenceTracker
from semsearch.corpus.markdown_sections import first_heading, parse_heading, split_sections


def _code_lines(markdown: str) -> list[bool]:
    tracker = FenceTracker()
    return [tracker.feed(line) for line in markdown.split("\n")]


def test_fences_backticks_tildes_and_longer_closers() -> None:
    markdown = "a\n```py\n## x\n```\nb\n~~~\n```\n~~~~\nc"
    assert _code_lines(markdown) == [False, True, True, True, False, True, True, True, False]


def test_fence_closed_only_by_same_character_and_enough_length() -> None:
    markdown = "````md\n```\ninner\n```\n````\nafter"
    assert _code_lines(markdown) == [True, True, True, True, True, False]


def test_fence_after_a_list_marker_and_inline_triple_backticks() -> None:
    assert _code_lines("1. ```\n   PUSH 1\n   ```\ntext") == [True, True, True, False]
    assert _code_lines("call ```eth_call``` here\n```eth_call``` too") == [False, False]


def test_parse_heading() -> None:
    assert parse_heading("## Modified `get_foo` ##") == (2, "Modified get_foo")
    assert parse_heading("   ### Deep") == (3, "Deep")
    assert parse_heading("#hashtag") is None
    assert parse_heading("    ## indented code") is None


def test_sections_ignore_headings_in_fences() -> None:
    markdown = "intro\n\n## One\n\n```\n## not a heading\n```\n\n~~~\n# nor this\n~~~\n\n## Two\ntext"
    sections = split_sections(markdown, max_level=2)
    assert [(s.level, s.heading) for s in sections] == [(0, ""), (2, "One"), (2, "Two")]
    assert "## not a heading" in sections[1].body
    assert sections[2].body == "text"


def test_section_paths_and_deeper_headings_stay_in_body() -> None:
    markdown = "# Title\nintro\n## Helpers\n### `get_a`\na\n#### detail\nd\n## Handlers\n### on_b\nb"
    sections = split_sections(markdown, max_level=3, title_is_first_h1=True)
    assert [s.label for s in sections] == [
        "",
        "",
        "Helpers",
        "Helpers > get_a",
        "Handlers",
        "Handlers > on_b",
    ]
    assert sections[1].body == "intro"
    assert sections[3].body == "a\n#### detail\nd"


def test_without_title_every_h1_is_a_section() -> None:
    sections = split_sections("# Abstract\na\n# Motivation\n## Detail\nb", max_level=6)
    assert [s.label for s in sections] == ["", "Abstract", "Motivation", "Motivation > Detail"]


def test_first_heading_skips_code() -> None:
    assert first_heading("```\n# comment\n```\n## Sub\n# Real Title\n") == "Real Title"
    assert first_heading("no heading here") is None


def test_blocks_kinds() -> None:
    markdown = (
        "Para one\ncontinues.\n\n"
        "```python\nx = 1\n\n\ny = 2\n```\n"
        "#### Heading\n"
        "Lead line\n| a | b |\n|---|---|\n| 1 | 2 |\nAfter table\n\n"
        "a | b\n--- | ---\n1 | 2"
    )
    blocks = split_blocks(markdown)
    assert [(b.kind, b.text) for b in blocks] == [
        ("text", "Para one\ncontinues."),
        ("code", "```python\nx = 1\n\n\ny = 2\n```"),
        ("heading", "#### Heading"),
        ("text", "Lead line"),
        ("table", "| a | b |\n|---|---|\n| 1 | 2 |"),
        ("text", "After table"),
        ("table", "a | b\n--- | ---\n1 | 2"),
    ]


def test_unclosed_fence_runs_to_the_end() -> None:
    blocks = split_blocks("text\n\n```\ncode\n\nmore code\n")
    assert [b.kind for b in blocks] == ["text", "code"]
    assert blocks[1].text == "```\ncode\n\nmore code"


def test_strip_html_comments_outside_code_only() -> None:
    markdown = "a <!-- hidden --> b\n<!--\nmulti\n-->\n```html\n<!-- kept -->\n```"
    assert strip_html_comments(markdown) == "a  b\n\n```html\n<!-- kept -->\n```"

"""Snippets as a reader sees them on screen: the chunk's Markdown markup taken out, its words kept.

The API returns a snippet as it is in the source (whitespace collapsed to one line); a table cell
shows ``see the lifecycle`` rather than ``see [the lifecycle](../guide/index-lifecycle.md)``.
Words that merely look like markup stay (``snake_case``, ``x > y``, ``a - b``), and so does
punctuation the source escaped (``\\*``).
"""

from __future__ import annotations

import re

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"```[\w+-]*"), " "),  # code fences, with their language tag
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: their alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # autolinks
    (re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>"), " "),  # HTML tags
    (re.compile(r"(?<![\w*])(\*\*|__)(?=\S)(.+?)(?<=\S)\1(?![\w*])"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])"), r"\2"),  # italic
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"(?:^|(?<=\s))#{1,6}(?=\s)"), " "),  # heading marks
    (re.compile(r"^\s*>\s"), ""),  # a quote at the start
    # List bullets; a "-" may be a dash, and "2 * 3" is arithmetic.
    (re.compile(r"(?:^|(?<=\s))(?<!\d\s)[*+](?=\s)(?!\s\d)"), " "),
    (re.compile(r"\|?(?:\s*:?-{3,}:?\s*\|)+(?:\s*:?-{3,}:?\s*)?"), " | "),  # table rules
]
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_PRIVATE = 0xE000  # escaped characters hide in the private use area while the rules run
_CELLS = re.compile(r"\s*(?:\|\s*)+")  # table cell borders, a run of them between two rows too


def readable_snippet(snippet: str) -> str:
    """``snippet`` without Markdown markup, on one line; table cells apart by `` · ``."""
    text = _ESCAPED.sub(lambda m: chr(_PRIVATE + ord(m.group(1))), snippet)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = " ".join(_CELLS.sub(" · ", text).split()).strip(" ·")
    return "".join(chr(ord(c) - _PRIVATE) if _PRIVATE <= ord(c) < _PRIVATE + 128 else c for c in text)

"""Split markdown text into blocks: paragraphs, fenced code, tables and heading lines.

Blocks are the units chunking packs and the boundaries it prefers to cut at; a fenced block is
one block even when it contains blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from semsearch.corpus.fences import FenceTracker
from semsearch.corpus.markdown_sections import parse_heading

BlockKind = Literal["text", "code", "table", "heading"]

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DELIMITER_CHARS = frozenset("|-: \t")


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str
    section: str = ""  # set by loaders that pack across sections


def split_blocks(markdown: str) -> list[Block]:
    """Blocks in document order; blank lines separate text blocks but not code."""
    blocks: list[Block] = []
    text: list[str] = []
    code: list[str] = []
    fences = FenceTracker()

    def flush_text() -> None:
        if text:
            blocks.extend(_split_text_lines(text))
            text.clear()

    for line in markdown.split("\n"):
        if fences.feed(line):
            flush_text()
            code.append(line)
            if not fences.inside:  # that was the closing fence
                blocks.append(Block("code", "\n".join(code)))
                code.clear()
        elif not line.strip():
            flush_text()
        else:
            text.append(line)
    flush_text()
    if code:  # an unclosed fence runs to the end of the document, as in CommonMark
        blocks.append(Block("code", "\n".join(code).rstrip()))
    return blocks


def _split_text_lines(lines: list[str]) -> list[Block]:
    # Headings and tables may touch the surrounding paragraph without a blank line.
    blocks: list[Block] = []
    current: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if parse_heading(line) is not None:
            blocks.extend(_text_block(current))
            current = []
            blocks.append(Block("heading", line.strip()))
            i += 1
        elif "|" in line and i + 1 < len(lines) and _is_delimiter_row(lines[i + 1]):
            blocks.extend(_text_block(current))
            current = []
            end = i + 2
            while end < len(lines) and "|" in lines[end]:
                end += 1
            blocks.append(Block("table", "\n".join(lines[i:end])))
            i = end
        else:
            current.append(line)
            i += 1
    blocks.extend(_text_block(current))
    return blocks


def _text_block(lines: list[str]) -> list[Block]:
    return [Block("text", "\n".join(lines))] if lines else []


def _is_delimiter_row(line: str) -> bool:
    # "| --- | :-: |" or "--- | ---": only pipes, dashes, colons and spaces, with a pipe and a dash.
    stripped = line.strip()
    return "|" in stripped and "-" in stripped and set(stripped) <= _DELIMITER_CHARS


def strip_html_comments(markdown: str) -> str:
    """Remove ``<!-- ... -->`` outside fenced code; they are invisible when rendered."""
    if "<!--" not in markdown:
        return markdown
    out: list[str] = []
    prose: list[str] = []
    fences = FenceTracker()

    def flush() -> None:
        if prose:
            out.append(_COMMENT.sub("", "\n".join(prose)))
            prose.clear()

    for line in markdown.split("\n"):
        if fences.feed(line):
            flush()
            out.append(line)
        else:
            prose.append(line)
    flush()
    return "\n".join(out)

"""pack and split_block: chunk size limits and where chunks are cut."""

from __future__ import annotations

from semsearch.corpus.blocks import Block, split_blocks
from semsearch.corpus.packing import join_blocks, pack, split_block, split_prose


def _texts(groups: list[list[Block]]) -> list[str]:
    return [join_blocks(group) for group in groups]


def test_small_blocks_are_packed_together_up_to_the_limit() -> None:
    blocks = [Block("text", "a" * 40), Block("text", "b" * 40), Block("text", "c" * 40)]
    assert _texts(pack(blocks, 84)) == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]
    assert _texts(pack(blocks, 81)) == ["a" * 40, "b" * 40, "c" * 40]


def test_a_block_that_fits_alone_is_never_cut() -> None:
    blocks = [Block("text", "x" * 60), Block("text", "y" * 90)]
    assert _texts(pack(blocks, 100)) == ["x" * 60, "y" * 90]


def test_heading_moves_on_with_the_next_block() -> None:
    blocks = [Block("text", "a" * 60), Block("heading", "#### f"), Block("text", "b" * 60)]
    assert _texts(pack(blocks, 80)) == ["a" * 60, "#### f\n\n" + "b" * 60]


def test_a_heading_is_never_a_chunk_of_its_own() -> None:
    text = "Sentence one is here. Sentence two is here."  # fits alone, not with the heading
    assert _texts(pack([Block("heading", "#### f"), Block("text", text)], 45)) == [
        "#### f\n\nSentence one is here.",
        "Sentence two is here.",
    ]


def test_heading_stays_behind_when_it_cannot_come_along() -> None:
    blocks = [Block("text", "a" * 30), Block("heading", "#### f"), Block("text", "b" * 45)]
    assert _texts(pack(blocks, 50)) == ["a" * 30 + "\n\n#### f", "b" * 45]


def test_leading_headings_can_be_dropped() -> None:
    blocks = [Block("heading", "## A"), Block("text", "a" * 60), Block("heading", "## B"), Block("text", "b")]
    assert _texts(pack(blocks, 70, leading_headings=False)) == ["a" * 60 + "\n\n## B\n\nb"]
    assert _texts(pack(blocks, 62, leading_headings=False)) == ["a" * 60, "b"]


def test_oversized_prose_is_cut_at_sentences() -> None:
    sentences = [f"Sentence number {word} ends here." for word in ("one", "two", "three", "four")]
    text = " ".join(sentences)
    pieces = split_prose(text, 70, 70)
    assert pieces == [f"{sentences[0]} {sentences[1]}", f"{sentences[2]} {sentences[3]}"]


def test_list_numbers_and_years_are_not_sentence_ends() -> None:
    text = "In 2024. the rule changed and\n4. step four happens here"
    assert split_prose(text, 40, 40) == ["In 2024. the rule changed and", "4. step four happens here"]


def test_a_sentence_longer_than_the_limit_is_hard_cut_at_spaces() -> None:
    text = " ".join(["word"] * 30)  # 149 characters, no sentence end
    pieces = split_prose(text, 50, 50)
    assert all(len(piece) <= 50 for piece in pieces)
    assert " ".join(pieces) == text
    assert split_prose("x" * 120, 50, 50) == ["x" * 50, "x" * 50, "x" * 20]


def test_oversized_code_is_cut_at_blank_lines_and_refenced() -> None:
    functions = [f"def f{n}():\n    return {n}" for n in range(6)]
    code = "```python\n" + "\n\n".join(functions) + "\n```"
    pieces = split_block(Block("code", code), 80, 80)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece.text) <= 80
        assert piece.text.startswith("```python\ndef f")
        assert piece.text.endswith("\n```")
    inner = [piece.text.removeprefix("```python\n").removesuffix("\n```") for piece in pieces]
    assert "\n\n".join(inner) == "\n\n".join(functions)


def test_oversized_code_keeps_indentation_when_cut_at_lines() -> None:
    body = "\n".join(f"    line_{n} = {n}" for n in range(20))
    pieces = split_block(Block("code", f"```\ndef f():\n{body}\n```"), 100, 100)
    assert all(len(piece.text) <= 100 for piece in pieces)
    assert pieces[1].text.startswith("```\n    line_")


def test_oversized_table_repeats_its_header() -> None:
    rows = "\n".join(f"| `CONSTANT_{n}` | {n} |" for n in range(10))
    table = f"| Name | Value |\n| - | - |\n{rows}"
    pieces = split_block(Block("table", table), 150, 150)
    assert len(pieces) > 1
    assert all(piece.text.startswith("| Name | Value |\n| - | - |\n| `CONSTANT_") for piece in pieces)
    assert all(len(piece.text) <= 150 for piece in pieces)
    assert "".join(piece.text.split("| - | - |\n")[1] + "\n" for piece in pieces) == rows + "\n"


def test_oversized_block_fills_the_room_left_in_its_own_section() -> None:
    note = Block("text", "*Note*: short introduction.")
    code = Block("code", "```\n" + "\n".join(f"x{n} = {n}" for n in range(30)) + "\n```")
    groups = pack([note, code], 120)
    assert groups[0][0] == note and groups[0][1].kind == "code"
    assert all(len(text) <= 120 for text in _texts(groups))


def test_oversized_block_of_a_new_section_starts_a_new_chunk() -> None:
    first = Block("text", "Short abstract.", section="Abstract")
    long = Block("text", " ".join(f"Motivation sentence {n}." for n in range(10)), section="Motivation")
    groups = pack([first, long], 100)
    assert _texts(groups)[0] == "Short abstract."
    assert all(block.section == "Motivation" for group in groups[1:] for block in group)


def test_every_character_of_prose_survives_packing() -> None:
    markdown = "\n\n".join(f"Paragraph {n}. " + "Some words here. " * (n * 7) for n in range(1, 8))
    groups = pack(split_blocks(markdown), 200)
    assert all(len(text) <= 200 for text in _texts(groups))
    assert " ".join(_texts(groups)).split() == markdown.split()

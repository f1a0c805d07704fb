"""Synthetic corpora of any size: markdown documents of made-up words, and queries over the same words.

Words follow a Zipf-like law over a made-up vocabulary, so chunks share common words the way prose
does and the hash model gives them graded, non-trivial scores. Everything derives from a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SECTIONS_PER_DOCUMENT = 10  # the markdown kind makes one chunk per `##` section
VOCABULARY = 6_000
WORDS_PER_CHUNK = (30, 60)
WORDS_PER_QUERY = (3, 8)
_SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"] + ["ch", "th", "qu", "st"]


def vocabulary(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        parts = rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))
        words["".join(parts)] = None
    return list(words)


def _sampler(seed: int) -> tuple[list[str], np.ndarray]:
    words = vocabulary(seed)
    weights = 1.0 / (np.arange(len(words)) + 8.0)
    return words, weights / weights.sum()


def _phrases(count: int, lengths: tuple[int, int], rng: np.random.Generator, seed: int) -> list[str]:
    words, p = _sampler(seed)
    sizes = rng.integers(lengths[0], lengths[1] + 1, size=count)
    picks = rng.choice(len(words), size=int(sizes.sum()), p=p)
    out, at = [], 0
    for size in sizes.tolist():
        out.append(" ".join(words[i] for i in picks[at : at + size]))
        at += size
    return out


def write_corpus(folder: Path, chunks: int, seed: int = 7) -> int:
    """Write about ``chunks`` chunks as markdown files under ``folder``; return the number of files."""
    rng = np.random.default_rng(seed)
    documents = max(1, chunks // SECTIONS_PER_DOCUMENT)
    texts = _phrases(documents * SECTIONS_PER_DOCUMENT, WORDS_PER_CHUNK, rng, seed)
    titles = _phrases(documents * (SECTIONS_PER_DOCUMENT + 1), (2, 4), rng, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        lines = [f"# {titles[d * (SECTIONS_PER_DOCUMENT + 1)]}", ""]
        for s in range(SECTIONS_PER_DOCUMENT):
            lines += [
                f"## {titles[d * (SECTIONS_PER_DOCUMENT + 1) + s + 1]}",
                "",
                texts[d * SECTIONS_PER_DOCUMENT + s],
                "",
            ]
        (folder / f"doc-{d:06d}.md").write_text("\n".join(lines))
    return documents


def queries(count: int, seed: int = 7) -> list[str]:
    """Short queries over the corpus's vocabulary (a seed of its own, the same words)."""
    return _phrases(count, WORDS_PER_QUERY, np.random.default_rng(seed + 1), seed)

"""The relevance benchmark's questions, the halves they fall in, and how an answer is scored.

See ``bench/relevance_questions.yaml`` for how questions are written and labelled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

QUESTIONS = Path(__file__).with_name("relevance_questions.yaml")
MODES = ("DENSE", "LEXICAL", "HYBRID")
TOP_K = 10
CUTOFFS = (1, 3, 10)
POOLED, OWN = "pooled", "own index"  # every index at once | the question's own index alone
TUNING, HELD_OUT = "tuning", "held-out"

Target = tuple[str, str]  # (index, document id)


def half_of(text: str) -> str:
    """The half a question belongs to, fixed by its text alone: the first byte of its SHA-256."""
    return TUNING if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else HELD_OUT


@dataclass(frozen=True)
class Question:
    index: str  # the index it is mainly about
    text: str
    style: str
    relevant: frozenset[Target]

    @property
    def half(self) -> str:
        return half_of(self.text)

    def wanted(self, scope: str) -> frozenset[Target]:
        """Its documents: all of them pooled, only its own index's when searched there."""
        return self.relevant if scope == POOLED else frozenset(t for t in self.relevant if t[0] == self.index)


@dataclass(frozen=True)
class Answer:
    question: Question
    mode: str
    scope: str  # POOLED or OWN
    ranked: tuple[Target, ...]  # best first
    pinned: int  # hits put first because the question names their document

    @property
    def wanted(self) -> frozenset[Target]:
        return self.question.wanted(self.scope)

    def recall(self, k: int) -> float:
        """Share of the wanted documents among the first k hits, out of at most k: a question with
        more wanted documents than k scores 1 when its first k hits are all wanted."""
        return len(self.wanted & set(self.ranked[:k])) / min(k, len(self.wanted))

    @property
    def reciprocal_rank(self) -> float:
        return next((1 / n for n, target in enumerate(self.ranked, 1) if target in self.wanted), 0.0)


def _target(label: str, home: str) -> Target:
    index, _, document = label.rpartition(":")
    return (index or home, document)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    raw = yaml.safe_load(path.read_text())
    return [
        Question(
            index, item["q"], item["style"], frozenset(_target(label, index) for label in item["relevant"])
        )
        for index, items in raw.items()
        for item in items
    ]

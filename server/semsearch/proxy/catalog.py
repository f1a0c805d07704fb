"""Several models served side by side, each under its own name, chosen by each request's ``model``.

This is how most hosted providers behave (the caller names the model, ``/v1/models`` lists them), and
what lets a client plan a model change: it can embed with the next model while still querying with
the current one.
"""

from __future__ import annotations

from collections.abc import Sequence

from semsearch.proxy.models import EmbeddingModel


class ModelNotServed(LookupError):
    """The request named no model, or one this proxy does not serve."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ModelCatalog:
    """The served models by name; replacing the one behind a name is one dictionary assignment."""

    def __init__(self, models: Sequence[EmbeddingModel]) -> None:
        if not models:
            raise ValueError("a catalog serves at least one model")
        self._models = {model.name: model for model in models}

    def pick(self, name: str | None) -> EmbeddingModel:
        """The model a request named; raises ModelNotServed (no name, or an unknown one)."""
        if not name:
            raise ModelNotServed(
                f"'model' is required: this provider serves {', '.join(self._models)}", "missing_model"
            )
        model = self._models.get(name)
        if model is None:
            raise ModelNotServed(
                f"the model {name!r} does not exist; served: {', '.join(self._models)}", "model_not_found"
            )
        return model

    def served(self) -> list[EmbeddingModel]:
        return list(self._models.values())

    def serve(self, name: str, model: EmbeddingModel) -> EmbeddingModel | None:
        """Serve ``model`` under ``name`` from now on (added when new); return what served it before."""
        previous = self._models.get(name)
        self._models[name] = model
        return previous

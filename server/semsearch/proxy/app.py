"""The proxy's HTTP face: an OpenAI-compatible ``/v1/embeddings`` and a loopback-only model switch
(which also needs ``Authorization: Bearer <token>`` when the proxy was given an admin token).

By default the provider chooses the model: a request's ``model`` field is accepted but ignored, and
the response names the model that really answered, which is what lets the main service notice a
switch. With several models (``--models``) the request's ``model`` chooses among them instead.

A search's query (``input_type: "query"``) is never embedded after a rebuild's batches: beside them
on a model that allows it (e5-small), else at the next turn (see turns.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from semsearch.credentials import Secret
from semsearch.logs import event
from semsearch.proxy.catalog import ModelCatalog, ModelNotServed
from semsearch.proxy.models import (
    AliasedModel,
    EmbeddingModel,
    InputType,
    ModelNotInstalled,
    UnknownModelError,
    Vectors,
    load_model,
)
from semsearch.proxy.turns import ClientGone, TurnTaker

log = logging.getLogger(__name__)

# OpenAI's own limits, so a client tuned against the proxy also works against the real thing.
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 32_768
_INPUT_TYPES: dict[str, InputType] = {"query": "query", "document": "document", "passage": "document"}
_WORD = re.compile(r"\w+")


class BadRequest(Exception):
    """A request the proxy refuses with HTTP 400 and OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def error_response(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass(frozen=True)
class EmbeddingRequest:
    texts: list[str]
    encoding: Literal["float", "base64"]
    input_type: InputType
    model: str | None = None  # as requested; only a proxy serving several models reads it


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return body


def parse_embedding_request(raw: bytes) -> EmbeddingRequest:
    """Validate a ``/v1/embeddings`` body; ``dimensions`` is accepted and ignored."""
    body = parse_json(raw)
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if texts is None:
        raise BadRequest("'input' is required", param="input", code="missing_input")
    if not isinstance(texts, list) or not texts:
        raise BadRequest("'input' must be a string or a non-empty list of strings", param="input")
    if len(texts) > MAX_INPUTS:
        raise BadRequest(f"'input' has {len(texts)} items; at most {MAX_INPUTS} are allowed", param="input")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(f"'input[{i}]' is {type(text).__name__}, not a string", param=f"input[{i}]")
        if len(text) > MAX_INPUT_CHARS:
            raise BadRequest(
                f"'input[{i}]' has {len(text)} characters; at most {MAX_INPUT_CHARS} are allowed",
                param=f"input[{i}]",
            )
    if "model" in body and not isinstance(body["model"], str | None):
        raise BadRequest("'model' must be a string", param="model")
    encoding: Literal["float", "base64"]
    if body.get("encoding_format") in (None, "float"):
        encoding = "float"
    elif body["encoding_format"] == "base64":
        encoding = "base64"
    else:
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    input_type = body.get("input_type")
    if input_type is None:
        input_type = "document"
    if not isinstance(input_type, str) or input_type not in _INPUT_TYPES:
        raise BadRequest(f"'input_type' must be one of {list(_INPUT_TYPES)}", param="input_type")
    return EmbeddingRequest(texts, encoding, _INPUT_TYPES[input_type], body.get("model"))


def render_embeddings(model: EmbeddingModel, request: EmbeddingRequest, embedded: Vectors) -> bytes:
    """Serialise ``embedded`` (the vectors of ``request.texts``); CPU-bound, so off the event loop."""
    vectors = embedded.astype("<f4", copy=False)
    data: list[Any]
    if request.encoding == "base64":
        data = [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors]
    else:
        # float32 -> Python float is exact, and JSON keeps 17 digits, so float and base64 round-trip alike.
        data = vectors.tolist()
    tokens = sum(len(_WORD.findall(text)) for text in request.texts)  # a word count stands in for tokens
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
        "model": model.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback


class _Proxy:
    """The served model and the endpoints that read it; a switch is one attribute assignment.

    With a ``catalog`` every request names its model, and a switch replaces the one behind a name.
    """

    def __init__(
        self, model: EmbeddingModel, catalog: ModelCatalog | None = None, admin_token: Secret | None = None
    ) -> None:
        self.model = model
        self.catalog = catalog
        # Only a digest is kept; comparing digests takes the same time whatever is presented.
        self._admin_digest = hashlib.sha256(admin_token.reveal()).digest() if admin_token else None
        self.since = int(time.time())
        self.requests = 0  # embeddings requests answered, so tests and operators can count calls
        self.inputs = 0
        self._switching = asyncio.Lock()  # switches apply one at a time, in arrival order
        self.turns = TurnTaker()  # queries beside or ahead of documents, documents in slices

    def _describe(self, model: EmbeddingModel) -> dict[str, Any]:
        return {"model": model.name, "dimensions": model.dimensions}

    async def embeddings(self, request: Request) -> Response:
        model = self.model  # read once: the whole request is answered by this model, even mid-switch
        raw = await request.body()
        try:
            parsed = await run_in_threadpool(parse_embedding_request, raw)
        except BadRequest as exc:
            return error_response(400, exc.message, param=exc.param, code=exc.code)
        if self.catalog is not None:
            try:
                model = self.catalog.pick(parsed.model)
            except ModelNotServed as exc:
                status = 404 if exc.code == "model_not_found" else 400  # OpenAI's codes for each
                return error_response(status, exc.message, param="model", code=exc.code)
        started = time.perf_counter()
        try:
            vectors = await self.turns.embed(model, parsed.texts, parsed.input_type, request.is_disconnected)
        except ClientGone as exc:
            event(log, "proxy_request_abandoned", model=model.name, embedded=exc.embedded, inputs=exc.total)
            return Response(status_code=499)  # nobody reads it: the client closed the connection
        body = await run_in_threadpool(render_embeddings, model, parsed, vectors)
        self.requests += 1
        self.inputs += len(parsed.texts)
        event(
            log,
            "proxy_embedded",
            level=logging.DEBUG,
            model=model.name,
            inputs=len(parsed.texts),
            input_type=parsed.input_type,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return Response(body, media_type="application/json")

    def _served(self) -> list[EmbeddingModel]:
        return self.catalog.served() if self.catalog is not None else [self.model]

    async def models(self, request: Request) -> Response:
        data = [
            {"id": model.name, "object": "model", "created": self.since, "owned_by": "semsearch"}
            for model in self._served()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        counters = {"embedding_requests": self.requests, "embedded_inputs": self.inputs}
        if self.catalog is not None:
            served = [self._describe(model) for model in self.catalog.served()]
            return JSONResponse({"status": "ok", "models": served, **counters})
        return JSONResponse({"status": "ok", **self._describe(self.model), **counters})

    async def admin_model(self, request: Request) -> Response:
        host = request.client.host if request.client else None
        if not is_loopback(host):
            event(log, "proxy_admin_refused", level=logging.WARNING, client=host, method=request.method)
            return error_response(403, "the admin API only answers loopback clients", kind="permission_error")
        refused = self._check_admin_token(request)
        if refused is not None:
            event(log, "proxy_admin_refused", level=logging.WARNING, client=host, method=request.method)
            return refused
        if request.method == "GET":
            if self.catalog is not None:
                return JSONResponse({"models": [self._describe(m) for m in self.catalog.served()]})
            return JSONResponse(self._describe(self.model))
        try:
            body = parse_json(await request.body())
            name = body.get("model")
            if not isinstance(name, str) or not name:
                raise BadRequest("'model' must be a non-empty string", param="model")
            alias = body.get("serve_as")
            if alias is not None and (not isinstance(alias, str) or not alias):
                raise BadRequest("'serve_as' must be a non-empty string when given", param="serve_as")
            async with self._switching:
                previous: EmbeddingModel | None = self.model
                started = time.perf_counter()
                try:
                    # Load fully before the swap, so no request ever sees a half-ready model.
                    loaded = await run_in_threadpool(load_model, name)
                except UnknownModelError as exc:
                    code = "model_not_installed" if isinstance(exc, ModelNotInstalled) else "model_not_found"
                    raise BadRequest(str(exc), param="model", code=code) from None
                if alias is not None:
                    loaded = AliasedModel(loaded, alias)
                served: EmbeddingModel = loaded
                if self.catalog is not None:
                    # Several models: only the one behind this name changes (a new name is added).
                    previous = self.catalog.serve(served.name, served)
                else:
                    self.model = served
                self.since = int(time.time())
        except BadRequest as exc:
            return error_response(400, exc.message, param=exc.param, code=exc.code)
        event(
            log,
            "proxy_model_switched",
            previous=previous.name if previous else None,
            model=loaded.name,
            serving=name,
            dimensions=loaded.dimensions,
            load_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return JSONResponse({**self._describe(loaded), "previous": previous.name if previous else None})

    def _check_admin_token(self, request: Request) -> Response | None:
        """None when no admin token is set or the request carries it; else a 401 or 403 (never echoing it)."""
        if self._admin_digest is None:
            return None
        scheme, _, presented = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return error_response(
                401,
                "the admin API needs 'Authorization: Bearer <token>'",
                kind="authentication_error",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = hashlib.sha256(presented.strip().encode("utf-8", errors="surrogateescape")).digest()
        if not hmac.compare_digest(digest, self._admin_digest):
            return error_response(403, "the admin token is not valid", kind="permission_error")
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    # 404s and 405s in the same error shape as everything else, for clients that parse it.
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, headers=exc.headers)


def create_app(
    initial_model: str, models: Sequence[str] = (), admin_token: Secret | None = None
) -> Starlette:
    """The proxy app, serving ``initial_model`` (loaded now; raises ``UnknownModelError``).

    With ``models``, every one of them is loaded and served side by side instead, each request
    choosing one by its ``model`` field. With ``admin_token``, ``/admin/model`` also needs it.
    """
    if models:
        catalog = ModelCatalog([load_model(name) for name in dict.fromkeys(models)])
        proxy = _Proxy(catalog.served()[0], catalog, admin_token)
    else:
        proxy = _Proxy(load_model(initial_model), admin_token=admin_token)
    routes = [
        Route("/v1/embeddings", proxy.embeddings, methods=["POST"]),
        Route("/v1/models", proxy.models, methods=["GET"]),
        Route("/health", proxy.health, methods=["GET"]),
        Route("/admin/model", proxy.admin_model, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.proxy = proxy
    return app

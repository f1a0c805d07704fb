"""What ``semsearch serve`` prints once it listens: where it serves, and commands to paste.

Every command runs as printed from the folder the server was started in: the ``semsearch`` of this
installation (``.venv/bin/semsearch`` unless that one is on PATH), ``buf`` from PATH or else from
``node_modules/.bin`` (``npm ci`` installs it), and grpcurl only when it is on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from semsearch.config import Config

NODE_BUF = "node_modules/.bin/buf"


@dataclass(frozen=True)
class Tools:
    """How each tool the banner names is run from the current folder; None: not installed."""

    semsearch: str
    buf: str
    buf_installed: bool
    grpcurl: str | None


@dataclass(frozen=True)
class Serving:
    """What the running server tells the banner."""

    address: str  # host:port of the gRPC server
    provider_url: str  # the embeddings base URL in use (.../v1)
    proxy_admin_url: str | None  # the bundled provider's model switch; None with an external provider


def _relative(path: Path, cwd: Path) -> str:
    """``path`` as typed from ``cwd``: relative below it (it holds a slash, so no PATH lookup)."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def find_tools(cwd: Path, which: Callable[[str], str | None] = shutil.which) -> Tools:
    script = Path(sys.executable).parent / "semsearch"  # this installation's console script
    if not script.exists():
        semsearch = f"{shlex.quote(sys.executable)} -m semsearch"
    else:
        on_path = which("semsearch")
        same = on_path is not None and os.path.realpath(on_path) == os.path.realpath(script)
        semsearch = "semsearch" if same else _relative(script, cwd)
    if which("buf") is not None:
        buf, buf_installed = "buf", True
    else:
        buf, buf_installed = NODE_BUF, (cwd / NODE_BUF).exists()
    return Tools(semsearch, buf, buf_installed, "grpcurl" if which("grpcurl") else None)


def render(config: Config, serving: Serving, tools: Tools) -> str:
    target = serving.address
    # With TLS every example trusts the server's own certificate (right for a self-signed one).
    cert = config.security.tls_cert if config.credentials.tls is not None else ""
    url = f"https://{target}" if cert else f"http://{target}"
    flags = f"--target {target} --tls-ca {shlex.quote(cert)}" if cert else f"--target {target}"
    grpcurl_flags = f"-cacert {shlex.quote(cert)}" if cert else "-plaintext"
    buf_flags = f"--cacert {shlex.quote(cert)}" if cert else "--http2-prior-knowledge"
    reads = config.security.require_token_for_reads  # reflection never needs the token; Search may
    header = ' -H "authorization: Bearer $SEMSEARCH_TOKEN"' if reads else ""
    cli = tools.semsearch
    lines = [
        "",
        f"semsearch is serving on {target} "
        f"(embeddings: {serving.provider_url}, model {config.embeddings.model})",
    ]
    if cert:
        lines.append(f"TLS on, certificate {cert}")
    if config.credentials.token is not None:
        lines.append(
            f"A bearer token (${config.security.token_env}) is required for "
            f"{'every call' if reads else 'Admin mutations'}; the commands read it from $SEMSEARCH_TOKEN"
        )
    lines += [
        "Indexes build in the background: a first start embeds every chunk (minutes with e5-small on a",
        "small machine), a warm start takes seconds. Words-only searches answer meanwhile. Try:",
        f"  {cli} status {flags}",
        f"  {cli} search 'what does PARKED mean' --mode lexical {flags}",
        f"  {cli} search 'how do I find out why an index stays parked' --allow-degraded {flags}",
        f"  {cli} watch {flags}    # live; Ctrl-C to leave",
    ]
    if tools.grpcurl is not None:
        lines += [
            f"  {tools.grpcurl} {grpcurl_flags} {target} list",
            f"  {tools.grpcurl} {grpcurl_flags}{header} -d "
            f'\'{{"query": "how do I swap the embedding model safely"}}\' '
            f"{target} semsearch.v1.SearchService/Search",
        ]
    if tools.buf == NODE_BUF:
        origin = "installed by `npm ci`" if tools.buf_installed else "run `npm ci` first to install it"
        lines.append(f"  # buf: {NODE_BUF}, {origin} (`make test` does)")
    lines += [
        f"  {tools.buf} curl --protocol grpc {buf_flags} --list-methods {url}",
        f"  {tools.buf} curl --protocol grpc {buf_flags}{header} "
        f'-d \'{{"query": "what does PARKED mean"}}\' {url}/semsearch.v1.SearchService/Search',
    ]
    if serving.proxy_admin_url is not None:
        lines += [
            "The bundled provider's model switch (loopback only; POST "
            '{"model": NAME} swaps the model, see docs/guide/embedding-provider.md):',
            f"  curl -s {serving.proxy_admin_url}",
        ]
    return "\n".join(lines) + "\n"

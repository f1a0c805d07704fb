"""Run the proxy under uvicorn and announce readiness with one JSON line on stdout.

The proxy binds its own socket so that port 0 works: the ready line carries the port the kernel chose,
and a launcher reads it instead of guessing a free port.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import uvicorn

from semsearch.credentials import Secret
from semsearch.logs import event
from semsearch.proxy.app import create_app

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0 = ephemeral), IPv4 or IPv6 by ``host``."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    """The ``.../v1`` URL a client on this machine should use; a wildcard bind is reached via loopback."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


class _Server(uvicorn.Server):
    """uvicorn, plus a callback once its listeners accept connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()


@contextmanager
def _exit_quietly_on_signals() -> Iterator[None]:
    """Make SIGTERM/SIGINT end the process with status 0 after uvicorn's graceful shutdown.

    uvicorn re-raises the signal it caught once it has shut down, to trigger the previous handler;
    with Python's defaults that is death by SIGTERM or a KeyboardInterrupt, so install handlers that
    accept the signal instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handled(signum: int, frame: FrameType | None) -> None:
        event(log, "proxy_signal", signal=signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handled) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    host: str = "127.0.0.1",
    port: int = 8089,
    model: str = "e5-small",
    models: Sequence[str] = (),
    admin_token: Secret | None = None,
) -> None:
    """Serve ``model`` (or every one of ``models``, side by side) on ``host:port`` until SIGTERM/SIGINT.

    Blocking. Loads the models before listening, then prints the one ``proxy_ready`` line to stdout.
    With ``admin_token``, the model switch also needs ``Authorization: Bearer <token>``.
    """
    app = create_app(model, models, admin_token)  # raises UnknownModelError before anything is bound
    served = app.state.proxy.model
    sock = bind(host, port)
    url = base_url(sock)

    def announce() -> None:
        ready = {"event": "proxy_ready", "url": url, "model": served.name, "pid": os.getpid()}
        if models:
            ready["models"] = [m.name for m in app.state.proxy.catalog.served()]
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        event(
            log,
            "proxy_listening",
            url=url,
            model=served.name,
            dimensions=served.dimensions,
            admin_token=admin_token is not None,
        )

    # log_config=None: our logging configuration (semsearch.logs) formats uvicorn's records too.
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config, announce)
    try:
        with _exit_quietly_on_signals():
            server.run(sockets=[sock])
    finally:
        sock.close()
    event(log, "proxy_stopped", url=url)

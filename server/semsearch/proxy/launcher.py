"""Start ``semsearch proxy`` as a child process and stop it again, whatever happens in between.

Used by the main server (to bundle a provider) and by tests (to run against a real HTTP provider).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from semsearch.children import kill_child, signal_child
from semsearch.logs import event

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
ADMIN_TOKEN_ENV = "SEMSEARCH_PROXY_ADMIN_TOKEN"  # how a launched proxy receives its admin token
SWITCH_TIMEOUT_SECONDS = 120.0  # loading a real model can take a while


class ProxyError(RuntimeError):
    """The proxy did not start, or refused an admin request."""


class ProxyProcess:
    """A running proxy child: ``url`` is its OpenAI base URL (``http://host:port/v1``)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        url: str,
        model: str,
        models: Sequence[str] = (),
        admin_token: str | None = None,
    ) -> None:
        self.process = process
        self.url = url
        self.model = model  # the model it serves, as far as this handle has switched it
        self.models = list(models)  # the models it serves side by side; empty: one, switchable
        self.admin_url = url.removesuffix("/v1") + "/admin/model"
        self._admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        # The child writes nothing after its ready line, but keep reading until EOF anyway: an unread
        # pipe that fills up would block the child on its next write.
        self._drain = asyncio.create_task(self._discard_output())

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def switch_model(self, name: str, serve_as: str | None = None) -> dict[str, Any]:
        """Make the proxy serve ``name`` (loaded before the swap), echoed as ``serve_as`` when given.

        A proxy serving several models replaces (or adds) only the one behind that name.
        """
        body = {"model": name} if serve_as is None else {"model": name, "serve_as": serve_as}
        async with httpx.AsyncClient(timeout=SWITCH_TIMEOUT_SECONDS) as client:
            response = await client.post(self.admin_url, json=body, headers=self._admin_headers)
        if response.status_code != 200:
            raise ProxyError(
                f"proxy refused to switch to {name!r}: HTTP {response.status_code} {response.text}"
            )
        answer: dict[str, Any] = response.json()
        if not self.models:
            self.model = answer["model"]
        elif answer["model"] not in self.models:
            self.models.append(answer["model"])
        return answer

    async def health(self) -> dict[str, Any]:
        """The proxy's /health answer: served model and request counters."""
        async with httpx.AsyncClient(timeout=SWITCH_TIMEOUT_SECONDS) as client:
            response = await client.get(self.url.removesuffix("/v1") + "/health")
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code. Safe to call twice."""
        if self.process.returncode is None:
            signal_child(self.process)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                event(log, "proxy_kill", level=logging.WARNING, pid=self.pid, grace_s=STOP_GRACE_SECONDS)
                kill_child(self.process)
                await self.process.wait()
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain
        code = self.process.returncode
        assert code is not None
        event(log, "proxy_stopped", pid=self.pid, returncode=code)
        return code

    async def _discard_output(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            event(log, "proxy_stdout", level=logging.DEBUG, line=line.decode(errors="replace").rstrip())


async def _read_ready(process: asyncio.subprocess.Process) -> dict[str, Any]:
    """The child's ``proxy_ready`` line; raises ``EOFError`` if stdout closes first."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not ours; the ready line is the only JSON the proxy prints
        if isinstance(message, dict) and message.get("event") == "proxy_ready":
            return message
    raise EOFError


def _taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a port in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


async def _kill(process: asyncio.subprocess.Process) -> int:
    kill_child(process)
    return await process.wait()


@contextlib.asynccontextmanager
async def start_proxy(
    model: str = "hash-v1",
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 60,
    models: Sequence[str] = (),
    admin_token: str | None = None,
) -> AsyncIterator[ProxyProcess]:
    """Run ``semsearch proxy`` serving ``model`` for the duration of the ``async with`` block.

    With ``models`` it serves all of them side by side instead, chosen by each request's ``model``.
    With ``admin_token`` its model switch needs that token (the handle's ``switch_model`` sends it).
    """
    chosen = ["--models", ",".join(models)] if models else ["--model", model]
    command = [sys.executable, "-m", "semsearch", "proxy", "--host", host, "--port", str(port), *chosen]
    env = None
    if admin_token:
        # Through the environment, never the command line: any local user can read a process's argv.
        command += ["--admin-token-env", ADMIN_TOKEN_ENV]
        env = {**os.environ, ADMIN_TOKEN_ENV: admin_token}
    model = models[0] if models else model
    # stderr is inherited, so the child's logs land wherever ours go.
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        async with asyncio.timeout(startup_timeout):
            ready = await _read_ready(process)
    except BaseException as exc:
        code = await _kill(process)  # whatever went wrong, including cancellation: no child left behind
        if isinstance(exc, TimeoutError):
            raise ProxyError(
                f"proxy ({model}) not ready after {startup_timeout:g}s; killed it (exit code {code})"
            ) from None
        if isinstance(exc, EOFError):
            # Its own message (a model it cannot load, a port it cannot bind) is on the shared stderr.
            hint = f"; port {port} is in use" if port and _taken(host, port) else ""
            raise ProxyError(f"proxy ({model}) exited before it was ready (exit code {code}{hint})") from None
        raise
    proxy = ProxyProcess(
        process, ready["url"], ready.get("model", model), ready.get("models", ()), admin_token
    )
    event(log, "proxy_started", pid=proxy.pid, url=proxy.url, model=proxy.model)
    try:
        yield proxy
    finally:
        # Shield the stop so a cancellation of the caller cannot leave the child running.
        stopping = asyncio.ensure_future(proxy.stop())
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            await stopping
            raise

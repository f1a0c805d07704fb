"""The proxy's model switch with an admin token: loopback only, and the token on top (401 / 403 / 200)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from semsearch.credentials import Secret
from semsearch.proxy.app import create_app
from semsearch.proxy.launcher import start_proxy
from tests.conftest import REPO
from tests.unit.proxy.test_proxy_app import client_for

TOKEN = "proxy-admin-token-0123456789"
SWITCH = {"model": "hash-v2"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def served_model(client: httpx.AsyncClient) -> str:
    model: str = (await client.get("/health")).json()["model"]
    return model


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_without_the_token_the_admin_api_answers_401_and_switches_nothing(method: str) -> None:
    async with client_for(create_app("hash-v1", admin_token=Secret(TOKEN.encode()))) as client:
        for headers in ({}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "}):
            response = await client.request(method, "/admin/model", json=SWITCH, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["type"] == "authentication_error"
            assert TOKEN not in response.text
        assert await served_model(client) == "hash-v1"


async def test_a_wrong_token_is_403_and_the_right_one_switches() -> None:
    async with client_for(create_app("hash-v1", admin_token=Secret(TOKEN.encode()))) as client:
        for wrong in ("x" * len(TOKEN), TOKEN[:-1], TOKEN + "x"):
            response = await client.post("/admin/model", json=SWITCH, headers=bearer(wrong))
            assert response.status_code == 403
            assert response.json()["error"]["type"] == "permission_error"
            assert wrong not in response.text
        assert await served_model(client) == "hash-v1"
        switched = await client.post("/admin/model", json=SWITCH, headers=bearer(TOKEN))
        assert switched.status_code == 200 and switched.json()["model"] == "hash-v2"
        assert (await client.get("/admin/model", headers=bearer(TOKEN))).json()["model"] == "hash-v2"
        # Embeddings, models and health stay open: the token guards the switch only.
        assert (await client.post("/v1/embeddings", json={"input": "x"})).status_code == 200


async def test_the_token_does_not_open_the_admin_api_to_other_machines() -> None:
    async with client_for(create_app("hash-v1", admin_token=Secret(TOKEN.encode())), "10.1.2.3") as client:
        response = await client.post("/admin/model", json=SWITCH, headers=bearer(TOKEN))
        assert response.status_code == 403
        assert await served_model(client) == "hash-v1"


async def test_without_an_admin_token_the_switch_needs_none() -> None:
    async with client_for(create_app("hash-v1")) as client:
        assert (await client.post("/admin/model", json=SWITCH)).status_code == 200
        assert await served_model(client) == "hash-v2"


@pytest.mark.slow
async def test_a_launched_proxy_with_a_token_refuses_strangers_and_obeys_its_handle() -> None:
    async with start_proxy(model="hash-v1", admin_token=TOKEN) as proxy:
        async with httpx.AsyncClient() as http:
            assert (await http.post(proxy.admin_url, json=SWITCH)).status_code == 401
            assert (
                await http.post(proxy.admin_url, json=SWITCH, headers=bearer("y" * 30))
            ).status_code == 403
        assert (await proxy.health())["model"] == "hash-v1"
        answer = await proxy.switch_model("hash-v2")  # the handle sends the token it started the proxy with
        assert answer["model"] == "hash-v2" and (await proxy.health())["model"] == "hash-v2"
        argv = Path(f"/proc/{proxy.pid}/cmdline").read_bytes()
        assert b"--admin-token-env" in argv and TOKEN.encode() not in argv  # the token is not in argv


def test_admin_token_env_naming_an_unset_variable_exits_2_naming_the_flag() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_TOKEN_VARIABLE"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "semsearch",
            "proxy",
            "--port",
            "0",
            "--admin-token-env",
            "NO_SUCH_TOKEN_VARIABLE",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--admin-token-env" in result.stderr and "NO_SUCH_TOKEN_VARIABLE" in result.stderr
    assert "Traceback" not in result.stderr

"""`semsearch serve` with [security] as a user runs it: a bad section stops start-up naming the key;
a good one serves TLS with a bearer token, the command line gets in with the token and the
certificate (and gets a one-line refusal with exit code 6 without them), and not one line the server
wrote — at debug level, with wrong tokens presented and a provider API key set — holds a secret."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.process import run_to_exit, serve_process, write_config
from tests.support.tls import SelfSigned, self_signed

TOKEN = "e2e-bearer-token-0123456789abcdef"
WRONG = "e2e-wrong-token-fedcba9876543210"
API_KEY = "sk-provider-api-key-0123456789"


def with_security(config: Path, **keys: str | bool) -> Path:
    lines = ["", "[security]"]
    for key, value in keys.items():
        lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else repr(str(value))}")
    config.write_text(config.read_text() + "\n".join(lines) + "\n")
    return config


async def semsearch(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        *args,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def tls(tmp_path: Path) -> SelfSigned:
    return self_signed(tmp_path / "tls")


@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("token-unset", "token_env"),
        ("cert-missing", "tls_cert"),
        ("key-mismatch", "tls_key"),
        ("key-without-cert", "tls_cert"),
    ],
)
async def test_a_bad_security_section_stops_serve_naming_the_key(
    tmp_path: Path, tls: SelfSigned, case: str, key: str
) -> None:
    config = write_config(tmp_path / "semsearch.toml", "http://127.0.0.1:9/v1", FIXTURE_INDEXES)
    other = self_signed(tmp_path / "other")
    keys: dict[str, dict[str, str | bool]] = {
        "token-unset": {"token_env": "SEMSEARCH_TEST_UNSET_TOKEN"},
        "cert-missing": {"tls_cert": "nowhere.crt", "tls_key": str(tls.key)},
        "key-mismatch": {"tls_cert": str(tls.cert), "tls_key": str(other.key)},
        "key-without-cert": {"tls_key": str(tls.key)},
    }
    code, stderr = await run_to_exit(with_security(config, **keys[case]), timeout=60)
    assert code == 2, stderr
    assert f"config error: [security].{key}:" in stderr
    assert "Traceback" not in stderr
    assert tls.key_pem.decode().splitlines()[1] not in stderr


@pytest.mark.slow
async def test_a_secured_server_lets_the_command_line_in_with_the_token_and_logs_no_secret(
    hash_proxy: ProxyProcess, tmp_path: Path, tls: SelfSigned, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_TEST_SERVER_TOKEN", TOKEN)
    monkeypatch.setenv("SEMSEARCH_EMBEDDINGS_API_KEY", API_KEY)  # sent to the provider on every request
    monkeypatch.setenv("SEMSEARCH_SERVER_LOG_LEVEL", "debug")  # the most the server will ever say
    config = write_config(tmp_path / "semsearch.toml", hash_proxy.url, FIXTURE_INDEXES)
    with_security(
        config, tls_cert=str(tls.cert), tls_key=str(tls.key), token_env="SEMSEARCH_TEST_SERVER_TOKEN"
    )
    stranger = self_signed(tmp_path / "stranger")
    async with serve_process(config) as server:
        await server.wait_event(lambda e: e.get("event") == "reindex_complete")
        target = ["--target", server.address, "--timeout", "10"]
        secure = [*target, "--tls-ca", str(tls.cert)]
        token = {"SEMSEARCH_TOKEN": TOKEN}

        code, out, err = await semsearch("search", "validator", *secure, "--json")
        assert code == 0, err  # reads stay open
        assert '"hits"' in out

        code, _, err = await semsearch("reindex", "--index", "eips", *secure)
        assert code == 6, err
        assert err.count("\n") == 1 and "UNAUTHENTICATED [TOKEN_REQUIRED]" in err and "SEMSEARCH_TOKEN" in err

        code, _, err = await semsearch("reindex", "--index", "eips", *secure, env={"SEMSEARCH_TOKEN": WRONG})
        assert code == 6, err
        assert err.count("\n") == 1 and "PERMISSION_DENIED [TOKEN_INVALID]" in err and WRONG not in err

        code, _, err = await semsearch("reindex", "--index", "eips", "--wait", *secure, env=token)
        assert code == 0, err
        code, _, err = await semsearch("status", *secure, "--token-env", "MY_TOKEN", env={"MY_TOKEN": TOKEN})
        assert code == 0, err

        code, _, err = await semsearch("status", *secure, "--token-env", "MY_UNSET_TOKEN")
        assert code == 2 and "--token-env" in err and "MY_UNSET_TOKEN" in err

        code, _, err = await semsearch("status", *target, env=token)  # plaintext against the TLS port
        assert code == 3 and "--tls-ca" in err and err.count("\n") == 1, err

        code, _, err = await semsearch("status", *target, "--tls-ca", str(stranger.cert), env=token)
        assert code == 3 and "not trusted" in err and err.count("\n") == 1, err

        server.terminate()
        assert await server.wait(30) == 0
    refused = [e for e in server.events if e.get("event") == "rpc_unauthenticated"]
    assert {e["reason"] for e in refused} == {"TOKEN_REQUIRED", "TOKEN_INVALID"}
    started = next(e for e in server.events if e.get("event") == "grpc_server_started")
    assert started["tls"] is True and started["token_required_for"] == "mutations"
    everything = "\n".join([*map(str, server.events), *server.other_output])
    key_body = "".join(tls.key_pem.decode().splitlines()[1:-1])
    for secret in (TOKEN, WRONG, API_KEY, key_body[:32], key_body[-32:]):
        assert secret not in everything
    assert len(server.events) > 50  # a real run's worth of lines was searched

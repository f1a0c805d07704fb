"""The [security] section: every mistake stops start-up naming its key, and no secret is ever shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from semsearch.config import Config, ConfigError, parse_config
from semsearch.credentials import NO_CREDENTIALS, Credentials, Secret, exposure_warning
from tests.support.tls import SelfSigned, self_signed

TOKEN = "s3cr3t-t0ken-for-the-tests"
INDEX = [{"name": "a", "kind": "markdown", "path": "."}]


def parse(tmp_path: Path, security: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    return parse_config({"security": security, "index": INDEX}, tmp_path, env or {})


def refused(tmp_path: Path, security: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        parse(tmp_path, security, env)
    return str(raised.value)


@pytest.fixture
def tls(tmp_path: Path) -> SelfSigned:
    return self_signed(tmp_path / "tls")


def test_without_a_security_section_the_server_is_plaintext_and_open(tmp_path: Path) -> None:
    config = parse(tmp_path, {})
    assert config.credentials == NO_CREDENTIALS
    assert config.credentials.tls is None and config.credentials.token is None


def test_the_token_is_read_from_the_named_variable_and_kept_as_a_secret(tmp_path: Path) -> None:
    config = parse(tmp_path, {"token_env": "API_TOKEN"}, {"API_TOKEN": TOKEN})
    assert config.credentials.token is not None
    assert config.credentials.token.reveal() == TOKEN.encode()
    assert config.security.token_env == "API_TOKEN"  # the config keeps the name, never the value
    assert TOKEN not in repr(config) and TOKEN not in str(config.credentials.token)


def test_require_token_for_reads_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {"API_TOKEN": TOKEN, "SEMSEARCH_SECURITY_REQUIRE_TOKEN_FOR_READS": "true"}
    assert parse(tmp_path, {"token_env": "API_TOKEN"}, env).credentials.require_token_for_reads


@pytest.mark.parametrize(
    ("security", "env", "key", "words"),
    [
        ({"token_env": "API_TOKEN"}, {}, "token_env", "API_TOKEN is unset or empty"),
        ({"token_env": "API_TOKEN"}, {"API_TOKEN": ""}, "token_env", "API_TOKEN is unset or empty"),
        ({"token_env": "API_TOKEN"}, {"API_TOKEN": "short"}, "token_env", "shorter than 16"),
        ({"token_env": "API_TOKEN"}, {"API_TOKEN": TOKEN + " x"}, "token_env", "visible ASCII"),
        ({"token_env": "API_TOKEN"}, {"API_TOKEN": TOKEN + "\n"}, "token_env", "visible ASCII"),
        ({"require_token_for_reads": True}, {}, "require_token_for_reads", "needs a token"),
        ({"tls_cert": "server.crt"}, {}, "tls_key", "both or neither"),
        ({"tls_key": "server.key"}, {}, "tls_cert", "both or neither"),
        ({"tls_cert": "missing.crt", "tls_key": "missing.key"}, {}, "tls_cert", "file not found"),
        ({"token": TOKEN}, {}, "", "unknown key 'token'"),
    ],
    ids=[
        "unset",
        "empty",
        "short",
        "space",
        "newline",
        "reads-no-token",
        "cert-only",
        "key-only",
        "missing",
        "inline",
    ],
)
def test_a_bad_setting_is_refused_naming_its_key_and_never_the_token(
    tmp_path: Path, security: dict[str, Any], env: dict[str, str], key: str, words: str
) -> None:
    message = refused(tmp_path, security, env)
    assert message.startswith(f"[security].{key}" if key else "[security]"), message
    assert words in message
    assert TOKEN not in message


def test_tls_files_resolve_against_the_config_folder(tmp_path: Path) -> None:
    made = self_signed(tmp_path / "certs")
    config = parse(tmp_path, {"tls_cert": "certs/server.crt", "tls_key": "certs/server.key"})
    assert config.security.tls_cert == str(made.cert)
    assert config.credentials.tls is not None
    assert config.credentials.tls.certificate_chain == made.cert_pem
    assert config.credentials.tls.private_key.reveal() == made.key_pem
    assert made.key_pem.decode() not in repr(config)  # the key never shows; the public chain may


def test_a_key_that_belongs_to_another_certificate_names_tls_key(tmp_path: Path, tls: SelfSigned) -> None:
    other = self_signed(tmp_path / "other")
    message = refused(tmp_path, {"tls_cert": str(tls.cert), "tls_key": str(other.key)})
    assert message.startswith("[security].tls_key") and "does not match the certificate" in message


@pytest.mark.parametrize(
    ("broken", "key", "words"),
    [
        ("cert", "tls_cert", "holds no PEM certificate"),
        ("cert-body", "tls_cert", "not a valid PEM certificate"),
        ("key", "tls_key", "holds no PEM private key"),
        ("key-body", "tls_key", "not a valid PEM private key"),
        ("encrypted", "tls_key", "encrypted"),
    ],
)
def test_unparsable_tls_files_name_the_key(
    tmp_path: Path, tls: SelfSigned, broken: str, key: str, words: str
) -> None:
    cert, private = tls.cert_pem.decode(), tls.key_pem.decode()
    if broken == "cert":
        cert = "not a certificate"
    elif broken == "cert-body":
        cert = re.sub(r"(?<=-\n)[A-Za-z0-9+/]{20}", "A" * 20, cert, count=1)
    elif broken == "key":
        private = "not a key"
    elif broken == "key-body":
        private = re.sub(r"(?<=-\n)[A-Za-z0-9+/]{20}", "A" * 20, private, count=1)
    else:
        private = private.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(private)
    message = refused(tmp_path, {"tls_cert": "c.pem", "tls_key": "k.pem"})
    assert message.startswith(f"[security].{key}"), message
    assert words in message
    body = "".join(tls.key_pem.decode().splitlines()[1:-1])
    assert body[:24] not in message  # never a piece of the key


def test_an_unreadable_file_names_the_key(tmp_path: Path, tls: SelfSigned) -> None:
    message = refused(tmp_path, {"tls_cert": str(tls.cert), "tls_key": str(tmp_path)})  # a folder
    assert message.startswith("[security].tls_key: cannot read")


def test_secret_never_shows_itself() -> None:
    secret = Secret(TOKEN.encode())
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{secret}"
    assert TOKEN not in repr(Credentials(token=secret))
    assert secret.reveal() == TOKEN.encode()


@pytest.mark.parametrize(
    ("listen", "tls", "token", "warned"),
    [
        ("127.0.0.1:50051", False, False, None),
        ("localhost:50051", False, False, None),
        ("[::1]:50051", False, False, None),
        ("127.0.0.1:50051", False, True, "bearer token over plaintext"),
        ("0.0.0.0:50051", False, False, "queries and answers can be read"),
        ("[::]:50051", False, True, "the bearer token can be sniffed"),
        ("search.internal:50051", False, False, "network interface"),
        ("0.0.0.0:50051", True, True, None),
    ],
)
def test_plaintext_exposure_is_warned_about(
    listen: str, tls: bool, token: bool, warned: str | None, tmp_path: Path
) -> None:
    material = None
    if tls:
        made = self_signed(tmp_path)
        material = parse(tmp_path, {"tls_cert": str(made.cert), "tls_key": str(made.key)}).credentials.tls
    credentials = Credentials(material, Secret(TOKEN.encode()) if token else None)
    warning = exposure_warning(listen, credentials)
    if warned is None:
        assert warning is None
    else:
        assert warning is not None and warned in warning

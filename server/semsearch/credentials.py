"""The ``[security]`` section and the secrets it points at: a TLS certificate and key, a bearer token.

Secrets never live in the config file: the token is read from the environment variable the section
names, the private key from a file. Both are held as ``Secret``, whose repr and str are redacted, so
no log line, error message or echo of the config can show them by accident. Everything is checked
at start-up, because gRPC itself only reads a bad certificate at the first TLS handshake.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

MIN_TOKEN_CHARS = 16  # anything shorter can be guessed
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))  # visible ASCII: valid in a metadata value


@dataclass(frozen=True)
class SecurityConfig:
    tls_cert: str = ""  # PEM certificate chain; relative to the config file; with tls_key, TLS is on
    tls_key: str = ""  # PEM private key (unencrypted) of the certificate's first entry
    token_env: str = ""  # NAME of the environment variable holding the bearer token; "": no token
    require_token_for_reads: bool = False  # false: only the Admin mutations need the token


class Secret:
    """A value that is never shown: ``reveal()`` is the only way to the bytes."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class TlsMaterial:
    certificate_chain: bytes  # public: sent to every client in the handshake
    private_key: Secret


@dataclass(frozen=True)
class Credentials:
    """What the server needs at run time; the default is plaintext without a token."""

    tls: TlsMaterial | None = None
    token: Secret | None = None
    require_token_for_reads: bool = False


NO_CREDENTIALS = Credentials()


class SecurityConfigError(ValueError):
    """A ``[security]`` key is wrong; ``key`` names it, the message never holds a secret."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def resolve_paths(section: SecurityConfig, base: Path) -> SecurityConfig:
    """TLS paths relative to ``base`` (the config file's folder), ``~`` expanded, like the cache path."""
    resolved: dict[str, Any] = {}
    for key in ("tls_cert", "tls_key"):
        value = getattr(section, key)
        if value:
            path = Path(value).expanduser()
            resolved[key] = str(path if path.is_absolute() else base / path)
    return replace(section, **resolved)


def load_credentials(section: SecurityConfig, env: Mapping[str, str]) -> Credentials:
    """Read and check the token and the TLS files; ``SecurityConfigError`` names the key at fault."""
    return Credentials(_tls(section), _token(section, env), section.require_token_for_reads)


def _token(section: SecurityConfig, env: Mapping[str, str]) -> Secret | None:
    name = section.token_env
    if not name:
        if section.require_token_for_reads:
            raise SecurityConfigError(
                "require_token_for_reads", "needs a token: set token_env to the variable that holds it"
            )
        return None
    value = env.get(name, "")
    if not value:
        raise SecurityConfigError("token_env", f"the environment variable {name} is unset or empty")
    # The value itself is never echoed: only what is wrong with it.
    if not set(value) <= _TOKEN_CHARS:
        raise SecurityConfigError(
            "token_env", f"the token in {name} may only hold visible ASCII characters (no spaces or newlines)"
        )
    if len(value) < MIN_TOKEN_CHARS:
        raise SecurityConfigError(
            "token_env", f"the token in {name} is shorter than {MIN_TOKEN_CHARS} characters"
        )
    return Secret(value.encode("ascii"))


def _tls(section: SecurityConfig) -> TlsMaterial | None:
    if not section.tls_cert and not section.tls_key:
        return None
    if not section.tls_key:
        raise SecurityConfigError("tls_key", "required with tls_cert (both or neither)")
    if not section.tls_cert:
        raise SecurityConfigError("tls_cert", "required with tls_key (both or neither)")
    chain = _read("tls_cert", section.tls_cert)
    key = _read("tls_key", section.tls_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if b"-----BEGIN CERTIFICATE-----" not in chain:
        raise SecurityConfigError("tls_cert", f"{section.tls_cert} holds no PEM certificate")
    try:
        context.load_verify_locations(cadata=chain.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise SecurityConfigError("tls_cert", f"{section.tls_cert} is not a valid PEM certificate") from None
    if b"PRIVATE KEY-----" not in key:
        raise SecurityConfigError("tls_key", f"{section.tls_key} holds no PEM private key")
    if b"ENCRYPTED" in key:
        raise SecurityConfigError("tls_key", f"{section.tls_key} is encrypted; give an unencrypted key")

    def no_password() -> bytes:
        raise SecurityConfigError("tls_key", f"{section.tls_key} is encrypted; give an unencrypted key")

    try:
        context.load_cert_chain(section.tls_cert, section.tls_key, password=no_password)
    except ssl.SSLError as exc:
        # OpenSSL's reason names the problem (KEY_VALUES_MISMATCH…) and never the key's content.
        why = "does not match the certificate" if "MISMATCH" in str(exc) else "is not a valid PEM private key"
        raise SecurityConfigError("tls_key", f"{section.tls_key} {why} in {section.tls_cert}") from None
    return TlsMaterial(chain, Secret(key))


def _read(key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise SecurityConfigError(key, f"file not found: {path}") from None
    except OSError as exc:
        raise SecurityConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None


def is_loopback_host(host: str) -> bool:
    """Whether a listen host only accepts connections from this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any interface


def exposure_warning(listen: str, credentials: Credentials) -> str | None:
    """Why this server's traffic can be read on the wire, or None when it cannot."""
    if credentials.tls is not None:
        return None
    on_network = not is_loopback_host(listen.rpartition(":")[0])
    if on_network and credentials.token is not None:
        return "plaintext gRPC on a network interface: the bearer token can be sniffed; configure TLS"
    if on_network:
        return "plaintext gRPC on a network interface: queries and answers can be read; configure TLS"
    if credentials.token is not None:
        return (
            "bearer token over plaintext gRPC: safe only while every client is on this machine "
            "or behind a TLS-terminating proxy; configure TLS otherwise"
        )
    return None

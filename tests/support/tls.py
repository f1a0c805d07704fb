"""Self-signed TLS certificates made on the spot, for servers on 127.0.0.1 and localhost, and
server configs secured with them and with a bearer token."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from semsearch.config import Config
from semsearch.credentials import SecurityConfig, load_credentials

TOKEN_ENV = "SEMSEARCH_TEST_TOKEN"


@dataclass(frozen=True)
class SelfSigned:
    cert: Path  # PEM certificate: the server's chain, and the root a client trusts
    key: Path  # PEM private key, unencrypted

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()


def self_signed(folder: Path, name: str = "server", common_name: str = "localhost") -> SelfSigned:
    """A fresh key and a certificate for ``localhost`` and ``127.0.0.1``, valid from an hour ago for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / f"{name}.crt"
    key_path = folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SelfSigned(cert_path, key_path)


def secured(
    config: Config, *, tls: SelfSigned | None = None, token: str | None = None, reads: bool = False
) -> Config:
    """``config`` with a [security] section: TLS with ``tls``, the bearer ``token``, or both."""
    section = SecurityConfig(
        tls_cert=str(tls.cert) if tls else "",
        tls_key=str(tls.key) if tls else "",
        token_env=TOKEN_ENV if token else "",
        require_token_for_reads=reads,
    )
    credentials = load_credentials(section, {TOKEN_ENV: token} if token else {})
    return dataclasses.replace(config, security=section, credentials=credentials)


if __name__ == "__main__":  # for the Node client's tests: `python -m tests.support.tls FOLDER`
    import json
    import sys

    made = self_signed(Path(sys.argv[1]))
    print(json.dumps({"cert": str(made.cert), "key": str(made.key)}))

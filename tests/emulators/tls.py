"""A throwaway certificate authority for loopback TLS servers in tests.

One self-signed CA and one server certificate for ``127.0.0.1`` and ``localhost`` are made per
test session (EC P-256: milliseconds), written to a temporary directory. Servers take
:func:`server_context`; clients trust :func:`client_context` or the CA file
(:func:`ca_file`, for SDKs that take a path or ``SSL_CERT_FILE``). Nothing is ever trusted
beyond the process.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

__all__ = ["ca_file", "client_context", "server_context"]

_lock = threading.Lock()
_files: tuple[Path, Path, Path] | None = None  # (ca.pem, server.pem, server.key)


def _make_files() -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("agentscope-legacy test CA"))
        .issuer_name(name("agentscope-legacy test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="agentscope-legacy-tls-"))
    atexit.register(shutil.rmtree, directory, True)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(cert.public_bytes(pem))
    (directory / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def _paths() -> tuple[Path, Path, Path]:
    global _files
    with _lock:
        if _files is None:
            _files = _make_files()
        return _files


def ca_file() -> str:
    """The path of the test CA's certificate (PEM)."""
    return str(_paths()[0])


def server_context() -> ssl.SSLContext:
    """A server-side context holding the certificate for 127.0.0.1 and localhost."""
    _, cert, key = _paths()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # No TLS 1.3 session tickets: the server sends them after the handshake, and with a reader
    # and a writer thread on one connection (websockets.sync) about one handshake in 40 then
    # stalled until its timeout on this machine. Nothing here resumes sessions anyway.
    context.num_tickets = 0
    return context


def client_context() -> ssl.SSLContext:
    """A client-side context that trusts the test CA only (and checks the host name)."""
    return ssl.create_default_context(cafile=ca_file())

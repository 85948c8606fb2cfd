"""A local certificate authority and a server certificate for an emulator's HTTPS listener.

Shared by the emulators under `emulators/` (Graph, Google Calendar): each keeps its own
``cert_dir``, so each has its own CA.

The CA and the server certificate are kept in ``cert_dir`` and reused while they are valid
(not expiring within a day, server certificate signed by the CA, SANs present); otherwise a
fresh pair is generated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
SERVER_DNS_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class CertificatePaths:
    """Where the CA and the server certificate live on disk."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def ensure_certificates(cert_dir: str | os.PathLike[str],
                        ca_name: str = "calbridge emulator CA") -> CertificatePaths:
    """Return usable CA and server certificate files in ``cert_dir``, generating them if needed
    (the CA named ``ca_name``)."""
    directory = Path(cert_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertificatePaths(
        ca_path=directory / CA_FILE,
        cert_path=directory / SERVER_FILE,
        key_path=directory / SERVER_KEY_FILE,
    )
    if not _existing_pair_is_valid(directory):
        _generate(directory, ca_name)
    return paths


def _existing_pair_is_valid(directory: Path) -> bool:
    files = [directory / name for name in (CA_FILE, CA_KEY_FILE, SERVER_FILE, SERVER_KEY_FILE)]
    if not all(f.is_file() for f in files):
        return False
    try:
        ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        leaf = x509.load_pem_x509_certificate((directory / SERVER_FILE).read_bytes())
        key = serialization.load_pem_private_key(
            (directory / SERVER_KEY_FILE).read_bytes(), password=None
        )
        leaf.verify_directly_issued_by(ca)
        horizon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        if ca.not_valid_after_utc < horizon or leaf.not_valid_after_utc < horizon:
            return False
        if key.public_key().public_numbers() != leaf.public_key().public_numbers():  # type: ignore[union-attr]
            return False
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        names = set(san.get_values_for_type(x509.DNSName))
        return set(SERVER_IPS) <= ips and set(SERVER_DNS_NAMES) <= names
    except (ValueError, TypeError, x509.ExtensionNotFound, Exception):
        return False


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _generate(directory: Path, ca_name_text: str) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name_text)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in SERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(directory / CA_KEY_FILE, _pem_key(ca_key))
    _write_private(directory / SERVER_KEY_FILE, _pem_key(leaf_key))
    (directory / CA_FILE).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / SERVER_FILE).write_bytes(leaf.public_bytes(serialization.Encoding.PEM))

"""TLS material for the emulator: a private CA and a loopback server certificate it signed.

Generated on first start and kept in ``DATA_DIR/certs`` so clients can pin the CA once
(`emulator.json` names it) and keep trusting the emulator across restarts. The server
certificate is re-issued from the same CA when it is missing, expiring soon, or does not cover
the loopback names; the CA itself is only replaced when it is missing or unreadable.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .files import write_private, write_public

CA_VALIDITY = dt.timedelta(days=3650)
# Kept under the 825 days some TLS stacks accept for leaf certificates.
SERVER_VALIDITY = dt.timedelta(days=800)
RENEW_BEFORE = dt.timedelta(days=30)

# Fabric's own host name too: tools that accept no other API host (fabric-cicd) reach the emulator
# through an HTTPS proxy that tunnels that name to it (tests/connect_proxy.py). Only clients that
# chose to trust this emulator's private CA ever accept the certificate.
SERVER_DNS_NAMES = ("localhost", "api.fabric.microsoft.com")
SERVER_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Absolute paths of the PEM files (keys are private files, mode 0600)."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def ensure_certificates(data_dir: Path | str) -> TlsFiles:
    """Create (first start) or reuse the CA and server certificate under ``data_dir/certs``."""
    folder = Path(data_dir).resolve() / "certs"
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=folder / "ca.pem",
        ca_key=folder / "ca-key.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server-key.pem",
    )
    ca = _load_ca(files)
    if ca is None:
        ca = _create_ca(files)
    ca_cert, ca_key = ca
    if not _server_cert_usable(files, ca_cert):
        _create_server_cert(files, ca_cert, ca_key)
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             validity: dt.timedelta) -> x509.CertificateBuilder:
    """A certificate for ``key`` valid from now (back-dated 5 minutes for slightly slow clocks)."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
    )


def _key_usage(*, key_agreement: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    """Digital signature plus the usages named; every other usage off."""
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=key_agreement, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
        encipher_only=False, decipher_only=False,
    )


def _load_ca(files: TlsFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc <= _now() + RENEW_BEFORE:
        return None
    return cert, key


def _create_ca(files: TlsFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    # P-256 keys: generated in milliseconds, so a first start stays fast on small machines.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fabric-resources emulator"),
        x509.NameAttribute(NameOID.COMMON_NAME, "fabric-resources emulator local CA"),
    ])
    cert = (
        _builder(name, name, key, CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(files.ca_key, _key_pem(key))
    write_public(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    # A new CA invalidates any server certificate signed by an older one.
    files.server_cert.unlink(missing_ok=True)
    return cert, key


def _server_cert_usable(files: TlsFiles, ca_cert: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc <= _now() + RENEW_BEFORE:
        return False
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    dns = set(san.get_values_for_type(x509.DNSName))
    return set(SERVER_IPS) <= ips and set(SERVER_DNS_NAMES) <= dns


def _create_server_cert(files: TlsFiles, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in SERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        _builder(subject, ca_cert.subject, key, SERVER_VALIDITY)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage(key_agreement=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(files.server_key, _key_pem(key))
    write_public(files.server_cert, cert.public_bytes(serialization.Encoding.PEM))

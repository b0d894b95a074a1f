"""The lab's own small CA, so its BMC serves HTTPS that every tool verifies like a real one's.

A CA certificate and key, and a server certificate for 127.0.0.1 signed by it, in the lab's
state folder (so `tcra lab down` removes them with it). Private keys are created 0600 in the
call that creates them. `ensure` keeps what an earlier `up` made while it is still good, so
the bundle in the inventory a client holds stays the one the BMC is signed by.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tcra.model.base import Model

HOST = ipaddress.IPv4Address("127.0.0.1")
VALID_FOR = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=7)  # reissue the server certificate when it ends sooner


class LabTls(Model):
    """Where the lab's TLS files are: the CA bundle tools verify with, the emulator's pair."""

    ca_bundle: Path
    ca_key: Path
    certificate: Path
    key: Path


def files(folder: Path) -> LabTls:
    return LabTls(ca_bundle=folder / "ca.pem", ca_key=folder / "ca.key",
                  certificate=folder / "server.pem", key=folder / "server.key")


def ensure(folder: Path, lab: str) -> LabTls:
    """A CA and a server certificate for 127.0.0.1 in `folder`, made now unless still good."""
    tls = files(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _still_good(tls.ca_bundle, tls.ca_key):
        _make_ca(tls, lab)
    if not _server_good(tls):
        _issue_server(tls, lab)
    return tls


def _make_ca(tls: LabTls, lab: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tcra lab {lab} CA")])
    now = _now()
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    for path in (tls.ca_key, tls.certificate, tls.key):  # a new CA: nothing of the old one
        path.unlink(missing_ok=True)
    _write_private(tls.ca_key, _key_pem(key))
    _replace(tls.ca_bundle, certificate.public_bytes(serialization.Encoding.PEM))


def _issue_server(tls: LabTls, lab: str) -> None:
    ca_key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{tls.ca_key}: expected the lab's EC CA key")
    ca = x509.load_pem_x509_certificate(tls.ca_bundle.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tcra lab {lab} BMC")]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + VALID_FOR, ca.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(HOST),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls.key.unlink(missing_ok=True)
    _write_private(tls.key, _key_pem(key))
    _replace(tls.certificate, certificate.public_bytes(serialization.Encoding.PEM))


def _server_good(tls: LabTls) -> bool:
    """The server certificate is still good and signed by this CA."""
    if not _still_good(tls.certificate, tls.key):
        return False
    certificate = x509.load_pem_x509_certificate(tls.certificate.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_bundle.read_bytes())
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _still_good(certificate: Path, key: Path) -> bool:
    """Both files exist and the certificate does not end within RENEW_BEFORE."""
    if not (certificate.exists() and key.exists()):
        return False
    ends = x509.load_pem_x509_certificate(certificate.read_bytes()).not_valid_after_utc
    return ends - _now() > RENEW_BEFORE


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` 0600 in the call that creates it: never readable by others, whatever the
    umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _replace(path: Path, data: bytes) -> None:
    """Write a public file whole or not at all: a reader never sees half a certificate."""
    staged = path.with_name(path.name + ".new")
    staged.write_bytes(data)
    staged.replace(path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)

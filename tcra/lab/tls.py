"""The lab's own small CAs, so its servers speak TLS that every tool verifies like a real one's.

A CA certificate and key, and leaf certificates signed by it (a server's for 127.0.0.1, or a
client's with a name and groups), in the lab's state folder (so `tcra lab down` removes them
with it). Private keys are created 0600 in the call that creates them. `ensure` and `issue` keep
what an earlier `up` made while it is still good and matches what is asked, so a bundle or
kubeconfig a client holds stays the one the server is signed by.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tcra.model.base import Model

HOST = ipaddress.IPv4Address("127.0.0.1")
VALID_FOR = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=7)  # reissue a certificate when it ends sooner


class LabTls(Model):
    """Where the lab's TLS files are: the CA bundle tools verify with, the emulator's pair."""

    ca_bundle: Path
    ca_key: Path
    certificate: Path
    key: Path


class Leaf(Model):
    """What a leaf certificate says: a server's names, or a client's user name and groups."""

    common_name: str
    organizations: tuple[str, ...] = ()
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    dns_names: tuple[str, ...] = ()
    client: bool = False

    def extended_key_usage(self) -> list[x509.ObjectIdentifier]:
        return [ExtendedKeyUsageOID.CLIENT_AUTH if self.client else ExtendedKeyUsageOID.SERVER_AUTH]


def server(common_name: str, *ip_addresses: str, dns_names: Sequence[str] = ()) -> Leaf:
    return Leaf(common_name=common_name, dns_names=tuple(dns_names),
                ip_addresses=tuple(ipaddress.ip_address(a) for a in ip_addresses))


def client(user: str, *groups: str) -> Leaf:
    return Leaf(common_name=user, organizations=groups, client=True)


def files(folder: Path) -> LabTls:
    return LabTls(ca_bundle=folder / "ca.pem", ca_key=folder / "ca.key",
                  certificate=folder / "server.pem", key=folder / "server.key")


def ensure(folder: Path, lab: str) -> LabTls:
    """A CA and a server certificate for 127.0.0.1 in `folder`, made now unless still good."""
    tls = files(folder)
    ensure_ca(tls.ca_bundle, tls.ca_key, f"tcra lab {lab} CA")
    issue(tls.ca_bundle, tls.ca_key, tls.certificate, tls.key,
          server(f"tcra lab {lab} BMC", str(HOST), dns_names=("localhost",)))
    return tls


def ensure_ca(certificate_path: Path, key_path: Path, common_name: str) -> bool:
    """A CA at these paths, made now unless still good; True when it was (re)made, so every
    leaf it signed before is gone too and will be issued again."""
    certificate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _still_good(certificate_path, key_path):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
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
    key_path.unlink(missing_ok=True)
    write_private(key_path, key_pem(key))
    _replace(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))
    return True


def issue(ca_path: Path, ca_key_path: Path, certificate_path: Path, key_path: Path,
          leaf: Leaf) -> None:
    """A certificate for `leaf` signed by the CA, made now unless the one there is still good,
    signed by this CA and says the same."""
    if _leaf_good(ca_path, certificate_path, key_path, leaf):
        return
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path}: expected the lab's EC CA key")
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder().subject_name(_subject(leaf))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + VALID_FOR, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(leaf.extended_key_usage()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    names = _names(leaf)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    key_path.unlink(missing_ok=True)
    write_private(key_path, key_pem(key))
    _replace(certificate_path, builder.sign(ca_key, hashes.SHA256())
             .public_bytes(serialization.Encoding.PEM))


def _subject(leaf: Leaf) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)
                        for group in leaf.organizations),
                      x509.NameAttribute(NameOID.COMMON_NAME, leaf.common_name)])


def _names(leaf: Leaf) -> list[x509.GeneralName]:
    return [*(x509.IPAddress(address) for address in leaf.ip_addresses),
            *(x509.DNSName(name) for name in leaf.dns_names)]


def _leaf_good(ca_path: Path, certificate_path: Path, key_path: Path, leaf: Leaf) -> bool:
    """Still good, signed by this CA, and naming what `leaf` asks for."""
    if not _still_good(certificate_path, key_path):
        return False
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        present = set(names)
    except x509.ExtensionNotFound:
        present = set()
    return certificate.subject == _subject(leaf) and present == set(_names(leaf))


def _still_good(certificate: Path, key: Path) -> bool:
    """Both files exist and the certificate does not end within RENEW_BEFORE."""
    if not (certificate.exists() and key.exists()):
        return False
    ends = x509.load_pem_x509_certificate(certificate.read_bytes()).not_valid_after_utc
    return ends - _now() > RENEW_BEFORE


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_private(path: Path, data: bytes) -> None:
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

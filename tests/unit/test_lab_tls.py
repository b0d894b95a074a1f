"""The lab's CA: a real TLS handshake on loopback verifies against it; re-runs keep it."""

import datetime
import os
import socket
import ssl
import threading

import pytest
from cryptography import x509

from tcra.lab import tls


def handshake(files: tls.LabTls, ca_bundle) -> str:
    """Serve `files` on 127.0.0.1 and connect verifying with `ca_bundle`; the peer's CN."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.certificate, files.key)
    client = ssl.create_default_context(cafile=str(ca_bundle))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def accept() -> None:
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused us: its side raises

        threading.Thread(target=accept, daemon=True).start()
        with socket.create_connection(listener.getsockname(), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname="127.0.0.1") as secured:
            subject = dict(pair[0] for pair in secured.getpeercert()["subject"])
            return str(subject["commonName"])


def test_the_server_certificate_verifies_for_127_0_0_1_against_the_lab_ca(tmp_path):
    old = os.umask(0)
    try:
        files = tls.ensure(tmp_path / "tls", "unit")
    finally:
        os.umask(old)
    assert handshake(files, files.ca_bundle) == "tcra lab unit BMC"
    assert {oct(p.stat().st_mode & 0o777) for p in (files.ca_key, files.key)} == {"0o600"}
    assert oct((tmp_path / "tls").stat().st_mode & 0o777) == "0o700"


def test_another_ca_is_refused(tmp_path):
    files = tls.ensure(tmp_path / "lab", "unit")
    other = tls.ensure(tmp_path / "other", "other")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(files, other.ca_bundle)


def test_a_rerun_keeps_the_ca_and_renews_certificates_about_to_end(tmp_path, monkeypatch):
    files = tls.ensure(tmp_path / "tls", "unit")
    kept = {p: p.read_bytes() for p in (files.ca_bundle, files.ca_key, files.certificate)}
    assert tls.ensure(tmp_path / "tls", "unit") == files
    assert {p: p.read_bytes() for p in kept} == kept

    monkeypatch.setattr(tls, "RENEW_BEFORE", datetime.timedelta(days=400))  # all "end soon"
    tls.ensure(tmp_path / "tls", "unit")
    assert files.ca_bundle.read_bytes() != kept[files.ca_bundle]  # a new CA ...
    renewed = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    renewed.verify_directly_issued_by(x509.load_pem_x509_certificate(
        files.ca_bundle.read_bytes()))  # ... and a server certificate it signs
    assert handshake(files, files.ca_bundle) == "tcra lab unit BMC"

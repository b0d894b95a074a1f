"""The management cluster's certificates and kubeconfigs, made by the lab as kubeadm would.

One CA signs everything: etcd's and the API server's serving certificates, the clients' (the
API server to etcd, the admin, each controller under its own user name, so RBAC sees who acts),
and the webhook servers' for 127.0.0.1. The service-account signing key is separate, as
Kubernetes asks. All of it lives in the lab's state folder and goes with `tcra lab down`.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tcra.lab import tls
from tcra.model.base import Model

HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: the first address of SERVICE_CIDR
API_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local")
ADMIN = "tcra-lab:admin"
MASTERS = "system:masters"


class KeyPair(Model):
    """A certificate and its private key, as files (what Go calls an X509 key pair)."""

    certificate: Path
    key: Path


class Pki(Model):
    folder: Path
    ca: KeyPair
    service_account_key: Path
    service_account_public: Path

    def pair(self, name: str) -> KeyPair:
        return KeyPair(certificate=self.folder / f"{name}.pem", key=self.folder / f"{name}.key")

    def issue(self, name: str, leaf: tls.Leaf) -> KeyPair:
        pair = self.pair(name)
        tls.issue(self.ca.certificate, self.ca.key, pair.certificate, pair.key, leaf)
        return pair


def existing(folder: Path) -> Pki:
    """Where the files are, made or not."""
    return Pki(folder=folder, ca=KeyPair(certificate=folder / "ca.pem", key=folder / "ca.key"),
               service_account_key=folder / "sa.key", service_account_public=folder / "sa.pub")


def ensure(folder: Path, lab: str) -> Pki:
    """The CA and service-account key, kept while still good (clients keep trusting them)."""
    pki = existing(folder)
    remade = tls.ensure_ca(pki.ca.certificate, pki.ca.key, f"tcra lab {lab} Kubernetes CA")
    if remade or not pki.service_account_key.exists():
        _service_account_key(pki)
    return pki


def _service_account_key(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pki.service_account_key.unlink(missing_ok=True)
    tls.write_private(pki.service_account_key, tls.key_pem(key))
    pki.service_account_public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def api_server_leaf() -> tls.Leaf:
    return tls.server("kube-apiserver", HOST, SERVICE_IP, dns_names=API_NAMES)


def kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str,
               cluster: str = "tcra-lab") -> Path:
    """A kubeconfig with the certificates inline, so it can be copied and still works; 0600,
    since it holds a private key."""
    data = {
        "apiVersion": "v1", "kind": "Config", "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(client.certificate),
            "client-key-data": _b64(client.key)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
    }
    staged = path.with_name(path.name + ".new")
    staged.unlink(missing_ok=True)
    tls.write_private(staged, yaml.safe_dump(data, sort_keys=False).encode())
    staged.replace(path)
    return path


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()

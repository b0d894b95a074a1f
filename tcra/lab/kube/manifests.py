"""Cluster API's CRDs and webhook configurations, pointed at managers on 127.0.0.1.

Upstream deploys the managers as pods behind Services, with cert-manager injecting CA bundles
(kustomize). The lab runs them as processes: every webhook and CRD conversion webhook gets a
`url` of https://127.0.0.1:<the manager's webhook port>/<path> and the lab CA's bundle instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tcra.lab.processes import LabError

# Which manager serves the webhooks (and conversions) of an API group.
SERVED_BY = {
    "cluster.x-k8s.io": "capi", "addons.cluster.x-k8s.io": "capi",
    "ipam.cluster.x-k8s.io": "capi", "runtime.cluster.x-k8s.io": "capi",
    "bootstrap.cluster.x-k8s.io": "kubeadm-bootstrap",
    "controlplane.cluster.x-k8s.io": "kubeadm-control-plane",
    "infrastructure.cluster.x-k8s.io": "capd",
}
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def documents(source: Path) -> Iterator[dict[str, Any]]:
    """The YAML documents of a file, or of every .yaml file under a folder."""
    for path in sorted(source.rglob("*.yaml")) if source.is_dir() else [source]:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict):
                yield document


def crds(folder: Path, webhook_ports: Mapping[str, int], ca_bundle: bytes) -> list[dict[str, Any]]:
    """The CRDs under `folder`, each with several versions converting through the manager
    that serves its group."""
    out = []
    for crd in documents(folder):
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        manager = SERVED_BY.get(spec["group"])
        if manager in webhook_ports and len(spec["versions"]) > 1:
            spec["conversion"] = {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": _client_config(webhook_ports[str(manager)], "/convert",
                                               ca_bundle)}}
        else:
            spec["conversion"] = {"strategy": "None"}
        annotations = crd["metadata"].get("annotations") or {}
        annotations.pop("cert-manager.io/inject-ca-from", None)
        crd["metadata"]["annotations"] = annotations
        out.append(crd)
    return out


def webhooks(source: Path, manager: str, port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The manager's webhook configurations, renamed after it (upstream's all share one name)
    and calling it at 127.0.0.1:port."""
    out = []
    for config in documents(source):
        if config.get("kind") not in WEBHOOK_KINDS:
            continue
        config["metadata"] = {"name": f"tcra-lab-{manager}-{config['metadata']['name']}"}
        for hook in config.get("webhooks") or ():
            service = hook["clientConfig"].get("service")
            if service is None or "path" not in service:
                raise LabError(f"{source}: webhook {hook.get('name')} has no service path")
            hook["clientConfig"] = _client_config(port, service["path"], ca_bundle)
        out.append(config)
    return out


def _client_config(port: int, path: str, ca_bundle: bytes) -> dict[str, str]:
    return {"url": f"https://127.0.0.1:{port}{path}",
            "caBundle": base64.b64encode(ca_bundle).decode()}

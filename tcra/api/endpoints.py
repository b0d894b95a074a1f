"""Where an instance answers, in the definition's terms: per network interface of the app's
components, the address the deployed workload has (the blueprint's endpoint: a pod's or a
Service's URL, or a VM's addresses) and the port the manifest gives the interface."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit

from tcra.api.schemas import AppManifest

MAX_ADDRESSES = 16
MAX_ENDPOINTS = 100


def access(manifest: AppManifest, workload: str,
           made: dict[str, Any]) -> list[dict[str, Any]]:
    """componentEndpointInfo of the workload, from the blueprint's `endpoints` output; empty
    when it reports no address (a VM without a guest agent or lease)."""
    endpoint = made.get(workload) or {}
    addresses = _addresses(endpoint)
    v4 = [str(a) for a in addresses if isinstance(a, IPv4Address)][:MAX_ADDRESSES]
    v6 = [str(a) for a in addresses if isinstance(a, IPv6Address)][:MAX_ADDRESSES]
    if not v4 and not v6:
        return []
    families = ({"ipv4Addresses": v4} if v4 else {}) | ({"ipv6Addresses": v6} if v6 else {})
    return [{"interfaceId": interface.interfaceId,
             "accessPoints": {"port": interface.port, **families}}
            for component in manifest.componentSpec
            for interface in component.networkInterfaces][:MAX_ENDPOINTS]


def _addresses(endpoint: dict[str, Any]) -> list[IPv4Address | IPv6Address]:
    texts = list(endpoint.get("addresses") or [])
    if url := endpoint.get("url"):
        texts.append(urlsplit(url).hostname or "")
    found = []
    for text in texts:
        try:
            found.append(ip_address(str(text).split("/")[0]))
        except ValueError:
            continue  # a name, not an address: not what the definition's fields hold
    return found

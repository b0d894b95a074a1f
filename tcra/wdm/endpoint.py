"""Where a released workload answers, as a URL: built from the chart's Service (its load
balancer or cluster IP, or a ready pod behind it) or its Ingress, as the cluster reports them.

The objects come in as pulumi-kubernetes outputs (typed objects) or plain dicts alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from tcra.errors import TcraError
from tcra.kube_api import KubeApi
from tcra.model.base import Model
from tcra.wdm.rollout import pod_ready

POLL = 1.0
"""Seconds between two looks for a ready pod."""


class EndpointNotFoundError(TcraError):
    """The chart's Service, its pods or its Ingress offer no address to report."""


class Endpoint(Model):
    """Where the workload answers: one of the chart's Services (its address, or a ready pod's
    address when pods are routed from where tcra runs and Services are not) or Ingresses."""

    kind: Literal["service", "pod", "ingress"] = "service"
    name: str | None = Field(default=None, description="Defaults to the release name.")
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="A Service port; defaults to the Service's first.")
    scheme: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*$",
                               description="URL scheme; default: the Service port's"
                               " appProtocol (mqtt, http, ...), else http. An Ingress with"
                               " TLS is always https.")


def field(value: Any, name: str) -> Any:
    """A field of an output: typed objects and plain dicts (snake_case keys) alike."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _load_balancer_address(status: Any) -> str | None:
    for entry in field(field(status, "load_balancer"), "ingress") or ():
        address = field(entry, "ip") or field(entry, "hostname")
        if address:
            return str(address)
    return None


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _service_port(spec: Any, port: int | None) -> Any:
    """The wanted port of the Service (its first when none is wanted)."""
    ports = list(field(spec, "ports") or ())
    numbers = [field(p, "port") for p in ports]
    if not ports:
        raise EndpointNotFoundError("the Service has no port to report")
    if port is None:
        return ports[0]
    if port not in numbers:
        raise EndpointNotFoundError(f"endpoint.port: the Service has ports {numbers}, not {port}")
    return ports[numbers.index(port)]


def _scheme(service_port: Any, scheme: str | None) -> str:
    """The wanted scheme, else the port's appProtocol (Kubernetes' own hint), else http."""
    hint = field(service_port, "app_protocol") or field(service_port, "appProtocol")
    return scheme or (str(hint) if hint else "http")


def service_url(spec: Any, status: Any, port: int | None, scheme: str | None) -> str:
    """The load balancer's address when it has one, else the cluster IP; the wanted port."""
    address = _load_balancer_address(status) or field(spec, "cluster_ip")
    if not address or address == "None" or not field(spec, "ports"):
        raise EndpointNotFoundError("the Service has no address or no port to report")
    served = _service_port(spec, port)
    return f"{_scheme(served, scheme)}://{_host(address)}:{field(served, 'port')}"


def pod_url(spec: Any, subsets: Any, port: int | None, scheme: str | None) -> str:
    """The first ready pod behind the Service (its Endpoints object's `subsets`), at the pod
    port that serves the wanted Service port: the one of the same name, else the first."""
    wanted = _service_port(spec, port)
    name = field(wanted, "name")
    for subset in subsets or ():
        addresses = [field(a, "ip") for a in field(subset, "addresses") or () if field(a, "ip")]
        ports = list(field(subset, "ports") or ())
        if addresses and ports:
            served = next((p for p in ports if name and field(p, "name") == name), ports[0])
            return (f"{_scheme(wanted, scheme)}://{_host(str(addresses[0]))}"
                    f":{field(served, 'port')}")
    raise EndpointNotFoundError("no ready pod behind the Service")


def wait_for_pod_url(kubeconfig: str, namespace: str, service: str, port: int | None,
                     scheme: str | None, timeout: float) -> str:
    """pod_url of the Service's core/v1 Endpoints, looked at until a pod behind it is ready
    (a pod repaired or replaced a moment ago may not be yet), for at most `timeout` seconds."""
    where = f"/api/v1/namespaces/{quote(namespace, safe='')}"
    name = quote(service, safe="")
    deadline = time.monotonic() + timeout
    with KubeApi.from_kubeconfig(kubeconfig) as api:
        while True:
            found = api.get(f"{where}/services/{name}")
            try:
                if found is None:
                    raise EndpointNotFoundError(f"no Service {namespace}/{service}")
                endpoints = api.get(f"{where}/endpoints/{name}") or {}
                return pod_url(found.get("spec"), endpoints.get("subsets"), port, scheme)
            except EndpointNotFoundError as exc:
                if time.monotonic() + POLL > deadline:
                    raise EndpointNotFoundError(f"{exc} (within {timeout:g} s)") from None
            time.sleep(POLL)


def wait_for_pod_addresses(kubeconfig: str, namespace: str, service: str,
                           timeout: float) -> list[str]:
    """Every address (IPv4 and IPv6) of the ready pods the Service selects, sorted, once there
    is one, for at most `timeout` seconds: what a chain steering to the pod needs, which the
    Service's Endpoints list for its own IP family only."""
    where = f"/api/v1/namespaces/{quote(namespace, safe='')}"
    deadline = time.monotonic() + timeout
    with KubeApi.from_kubeconfig(kubeconfig) as api:
        while True:
            found = api.get(f"{where}/services/{quote(service, safe='')}")
            selector = field(field(found, "spec"), "selector") if found else None
            if selector:
                labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
                pods = api.list(f"{where}/pods?labelSelector={quote(labels, safe='')}")
                addresses = sorted(str(a["ip"]) for pod in pods if _serving(pod)
                                   for a in pod.get("status", {}).get("podIPs") or ())
                if addresses:
                    return addresses
            if time.monotonic() + POLL > deadline:
                what = "no ready pod" if selector else "no Service with a selector"
                raise EndpointNotFoundError(f"{what} at {namespace}/{service} (within"
                                            f" {timeout:g} s)")
            time.sleep(POLL)


def _serving(pod: Mapping[str, Any]) -> bool:
    """Ready, and not on its way out."""
    return pod.get("metadata", {}).get("deletionTimestamp") is None and pod_ready(pod)


def ingress_url(spec: Any, status: Any, scheme: str | None) -> str:
    """The first rule's host, else the load balancer's address; https when TLS is set."""
    hosts = [field(r, "host") for r in field(spec, "rules") or () if field(r, "host")]
    address = hosts[0] if hosts else _load_balancer_address(status)
    if not address:
        raise EndpointNotFoundError("the Ingress has no host and no address")
    return f"{'https' if field(spec, 'tls') else scheme or 'http'}://{_host(address)}"

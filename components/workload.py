"""Workload: a pinned Helm chart released onto a K8sCluster, or onto any cluster by kubeconfig
(TCRA Workload Deployment Manager).

A new chart version or new values upgrade the one Helm release in place; a failed upgrade rolls
back. The `endpoint` output (from the chart's Service or Ingress) is what the MCO reports back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ConfigDict, Field
from tcra.components.k8s_cluster import K8sCluster
from tcra.components.workload_chart import declare_release

from tcra.capi._meta import DNS_LABEL_EXPECTED, is_dns_label
from tcra.errors import Problem, TcraError, raise_if_any
from tcra.mcm.chart import Chart, chart_problems
from tcra.model.base import Model


class EndpointNotFoundError(TcraError):
    """The chart's Service or Ingress offers no address to report."""


class Endpoint(Model):
    """Where the workload answers: one of the chart's Services or Ingresses."""

    kind: Literal["service", "ingress"] = "service"
    name: str | None = Field(default=None, description="Defaults to the release name.")
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="A Service port; defaults to the Service's first.")
    scheme: str = Field(default="http", pattern=r"^[a-z][a-z0-9+.-]*$",
                        description="URL scheme; an Ingress with TLS is always https.")


class WorkloadArgs(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    chart: str = Field(description="A chart name in `repository`, an oci:// reference, or a"
                       " local path.")
    version: str | None = Field(default=None, description="The exact chart version; required.")
    repository: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    namespace: str = "default"
    release_name: str | None = Field(default=None, description="Defaults to the Workload's name.")
    cluster: K8sCluster | None = Field(default=None, description="Release onto this cluster,"
                                       " through its provider, after its add-ons.")
    kubeconfig: Any = Field(default=None, description="Or onto the cluster of this kubeconfig"
                            " (str or Output[str]; kept secret).")
    endpoint: Endpoint = Endpoint()


class Workload(pulumi.ComponentResource):
    """Outputs: `release_name`, `namespace`, `revision`, `status` (as Helm reports them) and
    `endpoint` (a URL)."""

    release_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    revision: pulumi.Output[int | None]
    status: pulumi.Output[str | None]
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        chart = Chart(chart=args.chart, version=args.version, repository=args.repository,
                      values=args.values, namespace=args.namespace,
                      release_name=args.release_name or name)
        raise_if_any(workload_problems(name, args, chart))
        super().__init__("tcra:wdm:Workload", name, None, opts)
        if args.cluster is not None:
            provider, after = args.cluster.provider, list(args.cluster.addons.values())
        else:
            provider, after = k8s.Provider(
                f"{name}-cluster", kubeconfig=pulumi.Output.secret(args.kubeconfig),
                opts=pulumi.ResourceOptions(parent=self)), []
        self.provider = provider
        self.release = declare_release(f"{name}-release", chart, provider=provider, parent=self,
                                       depends_on=after)
        self.release_name = pulumi.Output.from_input(chart.release)
        self.namespace = pulumi.Output.from_input(chart.namespace)
        self.revision = self.release.status.apply(lambda s: _get(s, "revision"))
        self.status = self.release.status.apply(lambda s: _get(s, "status"))
        self.endpoint = self._endpoint(name, chart, args.endpoint, provider)
        self.register_outputs({"release_name": self.release_name, "namespace": self.namespace,
                               "revision": self.revision, "status": self.status,
                               "endpoint": self.endpoint})

    def _endpoint(self, name: str, chart: Chart, wanted: Endpoint,
                  provider: k8s.Provider) -> pulumi.Output[str]:
        """Read the Service or Ingress once the release is in; a preview of a new release
        leaves it unknown rather than reading what is not there yet."""
        target = f"{chart.namespace}/{wanted.name or chart.release}"
        lookup = self.release.id.apply(lambda _: target)
        opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.release])
        if wanted.kind == "ingress":
            ingress = k8s.networking.v1.Ingress.get(f"{name}-endpoint", lookup, opts=opts)
            return pulumi.Output.all(ingress.spec, ingress.status).apply(
                lambda parts: ingress_url(parts[0], parts[1], wanted.scheme))
        service = k8s.core.v1.Service.get(f"{name}-endpoint", lookup, opts=opts)
        return pulumi.Output.all(service.spec, service.status).apply(
            lambda parts: service_url(parts[0], parts[1], wanted.port, wanted.scheme))


def workload_problems(name: str, args: WorkloadArgs, chart: Chart) -> list[Problem]:
    where = f"Workload {name}"
    problems = chart_problems(chart, where)
    if (args.cluster is None) == (args.kubeconfig is None):
        problems.append(Problem(where, "cluster", "expected exactly one of cluster (a"
                                " K8sCluster) and kubeconfig", "both" if args.cluster else None))
    if args.endpoint.name is not None and not is_dns_label(args.endpoint.name):
        problems.append(Problem(where, "endpoint.name", f"expected {DNS_LABEL_EXPECTED}",
                                args.endpoint.name))
    return problems


def _get(value: Any, name: str) -> Any:
    """A field of an output: typed objects and plain dicts (snake_case keys) alike."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _load_balancer_address(status: Any) -> str | None:
    for entry in _get(_get(status, "load_balancer"), "ingress") or ():
        address = _get(entry, "ip") or _get(entry, "hostname")
        if address:
            return str(address)
    return None


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def service_url(spec: Any, status: Any, port: int | None, scheme: str) -> str:
    """The load balancer's address when it has one, else the cluster IP; the wanted port."""
    address = _load_balancer_address(status) or _get(spec, "cluster_ip")
    ports = [_get(p, "port") for p in _get(spec, "ports") or ()]
    if not address or address == "None" or not ports:
        raise EndpointNotFoundError("the Service has no address or no port to report")
    if port is not None and port not in ports:
        raise EndpointNotFoundError(f"endpoint.port: the Service has ports {ports}, not {port}")
    return f"{scheme}://{_host(address)}:{port or ports[0]}"


def ingress_url(spec: Any, status: Any, scheme: str) -> str:
    """The first rule's host, else the load balancer's address; https when TLS is set."""
    hosts = [_get(r, "host") for r in _get(spec, "rules") or () if _get(r, "host")]
    address = hosts[0] if hosts else _load_balancer_address(status)
    if not address:
        raise EndpointNotFoundError("the Ingress has no host and no address")
    return f"{'https' if _get(spec, 'tls') else scheme}://{_host(address)}"

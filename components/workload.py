"""Workload: a pinned Helm chart released onto a K8sCluster, or onto any cluster by kubeconfig
(TCRA Workload Deployment Manager).

A new chart version or new values upgrade the one Helm release in place; a release whose pods
are not Ready within `timeout` is undone (a failed install uninstalled, a failed upgrade rolled
back). Onto an existing cluster (a kubeconfig given as text), the cluster and the chart's
source are asked whether the release can succeed before anything is declared
(tcra.wdm.preflight). The `endpoint` output (from the chart's Service, a ready pod behind it,
or its Ingress) is what the MCO reports back.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ConfigDict, Field
from tcra.components.k8s_cluster import K8sCluster
from tcra.components.workload_chart import declare_release
from tcra.providers.release_drift import ReleaseDrift, ReleaseDriftArgs
from tcra.providers.release_rollout import ReleaseRollout, ReleaseRolloutArgs

from tcra.capi._meta import DNS_LABEL_EXPECTED, is_dns_label
from tcra.errors import Problem, raise_if_any
from tcra.mcm.chart import Chart, chart_problems
from tcra.model.base import Model
from tcra.wdm.endpoint import (
    Endpoint,
    EndpointNotFoundError,
    field,
    ingress_url,
    pod_url,
    service_url,
    wait_for_pod_addresses,
    wait_for_pod_url,
)
from tcra.wdm.preflight import cluster_name, preflight

T = TypeVar("T")
WATCHING = 2
"""Rollouts a program watches at once. A rollout holds one of the 4 workers Pulumi's Python
dynamic provider serves with while it waits for its Release's pods, and the engine checks
resources one after another: four rollouts at once would take every worker, the next dynamic
resource's check would wait for one, and with it the Releases the rollouts wait for, until
every rollout timed out. Two leave the other resources room; a third rollout starts when the
first is done (its release, if it fails too, may be undone by then: its cause is lost)."""
_ROLLOUTS: weakref.WeakKeyDictionary[Any, list[ReleaseRollout]] = weakref.WeakKeyDictionary()
"""The rollouts each program (by its engine connection) declared, in order."""

__all__ = ["Endpoint", "EndpointNotFoundError", "Workload", "WorkloadArgs", "ingress_url",
           "pod_url", "service_url", "workload_problems"]


class WorkloadArgs(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    chart: str = Field(description="A chart name in `repository`, an oci:// reference, or a"
                       " local path.")
    version: str | None = Field(default=None, description="The exact chart version; required.")
    repository: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    namespace: str = "default"
    create_namespace: bool = Field(default=False, description="The Workload makes the"
                                   " namespace, and deletes it (with all in it) when it goes;"
                                   " else the namespace must exist (others may share it).")
    release_name: str | None = Field(default=None, description="Defaults to the Workload's name.")
    cluster: K8sCluster | None = Field(default=None, description="Release onto this cluster,"
                                       " through its provider, after its add-ons.")
    kubeconfig: Any = Field(default=None, description="Or onto the cluster of this kubeconfig"
                            " (str or Output[str]; kept secret). Given as str, the cluster is"
                            " asked before anything is declared.")
    endpoint: Endpoint | None = Field(default=Endpoint(), description="Where the workload"
                                      " answers; None for a chart that serves nothing.")
    timeout: int = Field(default=180, ge=10, description="Seconds Helm waits for the"
                         " release's pods to be Ready and its Jobs to complete; after that the"
                         " install or upgrade is undone and the Workload fails.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Labels of the"
                                          " nodes its pods must run on: the site's, in a"
                                          " cluster that spans sites. Given to the chart as"
                                          " its `nodeSelector` value, as most charts take it.")
    cluster_name: str | None = Field(default=None, description="How errors name the cluster"
                                     " (an inventory's name for it); default: its API server.")
    registry_ca: Path | None = Field(default=None, description="CA bundle the chart's registry"
                                     " or repository is verified with, beside the system's.")


class Workload(pulumi.ComponentResource):
    """Outputs: `release_name`, `namespace`, `revision`, `status` (as Helm reports them),
    `endpoint` (a URL, None when args.endpoint is None), `drift` (the release's objects
    that the cluster holds otherwise, as `refresh` last read them; `up` repairs them) and
    `rollout` (the revision whose pods were seen Ready; a ReleaseRollout watches each install
    or upgrade beside Helm and, when its pods are not Ready in time, logs one line naming the
    release, the cluster and the cause: ImagePullBackOff and the image, a failing probe, ...)."""

    release_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    revision: pulumi.Output[int | None]
    status: pulumi.Output[str | None]
    endpoint: pulumi.Output[str | None]
    drift: pulumi.Output[list[str]]

    def __init__(self, name: str, args: WorkloadArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        values = ({**args.values, "nodeSelector": {**args.values.get("nodeSelector", {}),
                                                   **args.node_selector}}
                  if args.node_selector else args.values)
        chart = Chart(chart=args.chart, version=args.version, repository=args.repository,
                      values=values, namespace=args.namespace,
                      release_name=args.release_name or name)
        self._where = (f"Workload {name} (release {chart.release} in {chart.namespace} on"
                       f" {_cluster_of(args)})")
        raise_if_any(workload_problems(self._where, args, chart))
        if isinstance(args.kubeconfig, str):
            # An existing cluster: ask it, and the chart's source, now. A cluster made in this
            # program (or a kubeconfig still an Output) is not there to ask yet, and a
            # preview of it stays offline; Helm's own errors apply then.
            preflight(self._where, chart, kubeconfig=args.kubeconfig,
                      namespace_made=args.create_namespace, registry_ca=args.registry_ca)
        super().__init__("tcra:wdm:Workload", name, None, opts)
        after: list[pulumi.Resource]
        if args.cluster is not None:
            provider, after = args.cluster.provider, [*args.cluster.addons.values()]
        else:
            provider, after = k8s.Provider(
                f"{name}-cluster", kubeconfig=pulumi.Output.secret(args.kubeconfig),
                opts=pulumi.ResourceOptions(parent=self)), []
        self.provider = provider
        if args.create_namespace:
            after.append(k8s.core.v1.Namespace(
                f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=chart.namespace),
                opts=pulumi.ResourceOptions(parent=self, provider=provider)))
        self.release = declare_release(f"{name}-release", chart, provider=provider, parent=self,
                                       depends_on=after, timeout=args.timeout,
                                       create_namespace=False)
        kubeconfig = args.cluster.kubeconfig if args.cluster is not None else args.kubeconfig
        # Beside the Release, not after it: the cause is read while the failing pods are there.
        # At most WATCHING at a time in a program: each waits for the one WATCHING before it.
        declared = _ROLLOUTS.setdefault(pulumi.runtime.settings.get_monitor(), [])
        waits_for = [declared[-WATCHING]] if len(declared) >= WATCHING else []
        self.release_rollout = ReleaseRollout(f"{name}-rollout", ReleaseRolloutArgs(
            release=chart.release, namespace=chart.namespace, kubeconfig=kubeconfig,
            where=self._where, timeout=args.timeout - 3, trigger=hashlib.sha256(
                chart.model_dump_json(include={"chart", "version", "repository", "values"})
                .encode()).hexdigest()), pulumi.ResourceOptions(
                    parent=self, depends_on=[*after, *waits_for]))
        declared.append(self.release_rollout)
        self.release_name = pulumi.Output.from_input(chart.release)
        self.namespace = pulumi.Output.from_input(chart.namespace)
        self.revision = self.release.status.apply(lambda s: field(s, "revision"))
        self.status = self.release.status.apply(lambda s: field(s, "status"))
        self.release_drift = ReleaseDrift(f"{name}-drift", ReleaseDriftArgs(
            release=chart.release, namespace=chart.namespace, kubeconfig=kubeconfig,
            revision=self.revision), pulumi.ResourceOptions(parent=self,
                                                            depends_on=[self.release]))
        self.drift = self.release_drift.drift
        self.endpoint = (self._endpoint(name, chart, args.endpoint, provider, kubeconfig,
                                        args.timeout)
                         if args.endpoint else pulumi.Output.from_input(None))
        self._pods = (kubeconfig, chart.namespace,
                      (args.endpoint.name if args.endpoint else None) or chart.release,
                      args.timeout)
        self.register_outputs({"release_name": self.release_name, "namespace": self.namespace,
                               "revision": self.revision, "status": self.status,
                               "endpoint": self.endpoint, "drift": self.drift,
                               "rollout": self.release_rollout.ready(self, self.release.status)})

    def pod_addresses(self) -> pulumi.Output[list[str]]:
        """The addresses (both IP families) of the ready pods behind the endpoint's Service,
        read once the release is in and its drift repaired: a chain steers to a pod's."""
        kubeconfig, namespace, service, timeout = self._pods
        read = self._read(lambda p: wait_for_pod_addresses(p[0], namespace, service, timeout))
        return pulumi.Output.unsecret(  # addresses, read with the secret kubeconfig
            pulumi.Output.all(kubeconfig, self.drift).apply(read))

    def _endpoint(self, name: str, chart: Chart, wanted: Endpoint, provider: k8s.Provider,
                  kubeconfig: Any, timeout: int) -> pulumi.Output[str | None]:
        """Read the Service (a ready pod behind it, or the Ingress) once the release is in and
        its drift repaired; a preview of a new release leaves it unknown rather than reading
        what is not there yet."""
        service = wanted.name or chart.release
        if wanted.kind == "pod":
            url: pulumi.Output[str] = pulumi.Output.all(kubeconfig, self.drift).apply(self._read(
                lambda p: wait_for_pod_url(p[0], chart.namespace, service, wanted.port,
                                           wanted.scheme, timeout)))
            return pulumi.Output.unsecret(url)  # an address, read with the secret kubeconfig
        lookup = self.release.id.apply(lambda _: f"{chart.namespace}/{service}")
        opts = pulumi.ResourceOptions(parent=self, provider=provider,
                                      depends_on=[self.release, self.release_drift])
        if wanted.kind == "ingress":
            ingress = k8s.networking.v1.Ingress.get(f"{name}-endpoint", lookup, opts=opts)
            return pulumi.Output.all(ingress.spec, ingress.status).apply(
                self._read(lambda p: ingress_url(p[0], p[1], wanted.scheme)))
        found = k8s.core.v1.Service.get(f"{name}-endpoint", lookup, opts=opts)
        return pulumi.Output.all(found.spec, found.status).apply(
            self._read(lambda p: service_url(p[0], p[1], wanted.port, wanted.scheme)))

    def _read(self, build: Callable[[list[Any]], T]) -> Callable[[list[Any]], Awaitable[T]]:
        """`build` run in a thread (it may wait for a pod), its EndpointNotFoundError turned
        into one line naming the Workload."""
        async def read(parts: list[Any]) -> T:
            try:
                return await asyncio.to_thread(build, parts)
            except EndpointNotFoundError as exc:
                raise pulumi.RunError(f"{self._where}: endpoint: {exc}") from None
        return read


def workload_problems(where: str, args: WorkloadArgs, chart: Chart) -> list[Problem]:
    problems = chart_problems(chart, where)
    if (args.cluster is None) == (args.kubeconfig is None):
        problems.append(Problem(where, "cluster", "expected exactly one of cluster (a"
                                " K8sCluster) and kubeconfig", "both" if args.cluster else None))
    if args.endpoint and args.endpoint.name is not None and not is_dns_label(args.endpoint.name):
        problems.append(Problem(where, "endpoint.name", f"expected {DNS_LABEL_EXPECTED}",
                                args.endpoint.name))
    if args.create_namespace and chart.namespace == "default":
        problems.append(Problem(where, "create_namespace", "expected false for namespace"
                                " default (it always exists)", True))
    return problems


def _cluster_of(args: WorkloadArgs) -> str:
    if isinstance(args.kubeconfig, str):
        server = cluster_name(args.kubeconfig)
        return f"{server} ({args.cluster_name})" if args.cluster_name else server
    if args.cluster_name:
        return f"cluster {args.cluster_name}"
    if args.cluster is not None:
        return f"K8sCluster {args.cluster.pulumi_resource_name}"
    return "the cluster of its kubeconfig"

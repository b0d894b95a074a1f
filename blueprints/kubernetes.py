"""A blueprint's kubernetes block: one Cluster API cluster per site that runs container
workloads (its hosts provisioned by Metal3), and a Helm release per workload on it."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi
from pydantic import Field
from tcra.blueprints.diagram import Deployed
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs
from tcra.components.workload import Workload, WorkloadArgs

from tcra.capi.metal3 import Image
from tcra.errors import TcraError
from tcra.mcm.infrastructure import ApiEndpoint, Metal3Infrastructure
from tcra.mcm.machines import machines_from_hosts
from tcra.mcm.spec import ControlPlane, Distribution, NodePool
from tcra.model.base import Model

if TYPE_CHECKING:
    from tcra.blueprints.base import Blueprint


class ClusterTemplate(Model):
    """What each site's workload cluster is: the same everywhere but its API endpoint."""

    distribution: Distribution = "kubeadm"
    kubernetes_version: str
    image: Image = Field(description="OS image Metal3 writes to every machine.")
    endpoints: dict[str, ApiEndpoint] = Field(description="Site -> the cluster's API address"
                                              " (a VIP or load balancer).")
    namespace: str = "default"
    control_plane_replicas: int = Field(default=1, ge=1)


def declare(blueprint: Blueprint, name: str, placed: list[tuple[str, str]],
            deployed: Deployed) -> dict[str, Any]:
    template = blueprint.args.kubernetes
    if template is None:
        raise TcraError(f"{blueprint.kind}: the kubernetes block needs `kubernetes` (a"
                        " ClusterTemplate)")
    by_site: dict[str, list[str]] = defaultdict(list)
    for workload, site in placed:
        by_site[site].append(workload)
    endpoints: dict[str, Any] = {}
    for site, workloads in sorted(by_site.items()):
        if site not in template.endpoints:
            raise TcraError(f"{blueprint.kind}: kubernetes.endpoints has no API address for"
                            f" site {site}, where {', '.join(workloads)} run")
        machines = machines_from_hosts(blueprint.args.inventory.hosts_at(site))
        workers = len(machines) - template.control_plane_replicas
        cluster_name = f"{name}-{site}".replace("_", "-")
        cluster = K8sCluster(cluster_name, K8sClusterArgs(
            name=cluster_name, namespace=template.namespace,
            distribution=template.distribution, kubernetes_version=template.kubernetes_version,
            infrastructure=Metal3Infrastructure(endpoint=template.endpoints[site],
                                                image=template.image, machines=machines),
            control_plane=ControlPlane(replicas=template.control_plane_replicas),
            pools=(NodePool(name="workers", replicas=workers),) if workers > 0 else (),
            management=blueprint.args.management), pulumi.ResourceOptions(parent=blueprint))
        for workload in workloads:
            chart = blueprint.entries[workload].chart
            assert chart is not None  # noqa: S101 - CatalogEntry demands one for caf
            release = Workload(f"{name}-{workload}", WorkloadArgs(
                chart=chart.name, version=chart.version, repository=chart.repository,
                values=chart.values, release_name=workload.replace("_", "-"), cluster=cluster),
                pulumi.ResourceOptions(parent=blueprint))
            deployed.add(workload, site, "kubernetes", f"Helm on {cluster_name}")
            endpoints[workload] = release.endpoint.apply(partial(_endpoint, site, cluster_name))
    return endpoints


def _endpoint(site: str, cluster: str, url: str) -> dict[str, Any]:
    return {"site": site, "form": "kubernetes", "cluster": cluster, "url": url}

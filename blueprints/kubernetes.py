"""A blueprint's kubernetes block: a Helm release per container workload, on its site's
existing cluster (the inventory's `cluster`), or on a Cluster API cluster the block makes for
the site from the hosts the plan makes its Kubernetes nodes (provisioned by Metal3)."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi
from pydantic import Field
from tcra.blueprints.diagram import Deployed
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs
from tcra.components.workload import Endpoint, Workload, WorkloadArgs
from tcra.providers.workload_inventory import DeployedObject

from tcra.capi.metal3 import Image
from tcra.errors import TcraError
from tcra.mcm.infrastructure import ControlPlaneEndpoint, Metal3Infrastructure
from tcra.mcm.machines import machines_from_hosts
from tcra.mcm.spec import ControlPlane, Distribution, NodePool
from tcra.mco.model import Role
from tcra.model.base import Model

if TYPE_CHECKING:
    from tcra.blueprints.base import Blueprint


class ClusterTemplate(Model):
    """What each site's workload cluster is: the same everywhere but its API endpoint."""

    distribution: Distribution = "kubeadm"
    kubernetes_version: str
    image: Image = Field(description="OS image Metal3 writes to every machine.")
    endpoints: dict[str, ControlPlaneEndpoint] = Field(description="Site -> the cluster's API"
                                                       " address (a VIP or load balancer).")
    namespace: str = "default"
    control_plane_replicas: int = Field(default=1, ge=1)


def declare(blueprint: Blueprint, name: str, placed: list[tuple[str, str]],
            deployed: Deployed) -> dict[str, Any]:
    """A Helm release per placed workload: onto the site's existing cluster when the
    inventory records one, else onto a cluster this block makes from the template."""
    by_site: dict[str, list[str]] = defaultdict(list)
    for workload, site in placed:
        by_site[site].append(workload)
    endpoints: dict[str, Any] = {}
    for site, workloads in sorted(by_site.items()):
        existing = blueprint.args.inventory.site(site).cluster
        if existing is not None:
            # The kubeconfig as text (Workload keeps it secret): the cluster and the chart's
            # source are asked before anything is declared.
            target: dict[str, Any] = {
                "kubeconfig": existing.kubeconfig.read_text(), "cluster_name": existing.name,
                "registry_ca": existing.registry_ca,
                "endpoint": Endpoint(kind="pod" if existing.pod_endpoints else "service")}
            cluster_name = existing.name
            made_on: Any = existing.name
        else:
            cluster_name = f"{name}-{site}".replace("_", "-")
            cluster = _new_cluster(blueprint, cluster_name, site, workloads)
            target, made_on = {"cluster": cluster}, cluster.cluster_name
        for workload in workloads:
            chart = blueprint.entries[workload].chart
            assert chart is not None  # noqa: S101 - CatalogEntry demands one for caf
            release = Workload(f"{name}-{workload}", WorkloadArgs(
                chart=chart.chart, version=chart.version, repository=chart.repository,
                values=chart.values, namespace=chart.namespace,
                release_name=chart.release_name or workload.replace("_", "-"), **target),
                pulumi.ResourceOptions(parent=blueprint))
            deployed.add(workload, site, "kubernetes", f"Helm on {cluster_name}",
                         made=DeployedObject(workload=workload, cluster=made_on,
                                             release=release.release_name,
                                             namespace=release.namespace), by=release)
            endpoints[workload] = release.endpoint.apply(partial(_endpoint, site, cluster_name))
    return endpoints


def _new_cluster(blueprint: Blueprint, cluster_name: str, site: str,
                 workloads: list[str]) -> K8sCluster:
    template = blueprint.args.kubernetes
    if template is None or blueprint.args.management is None:
        raise TcraError(f"{blueprint.kind}: site {site} has no cluster in the inventory, so the"
                        " kubernetes block makes one: it needs `kubernetes` (a ClusterTemplate)"
                        f" and the management cluster, for {', '.join(workloads)}")
    if site not in template.endpoints:
        raise TcraError(f"{blueprint.kind}: kubernetes.endpoints has no API address for"
                        f" site {site}, where {', '.join(workloads)} run")
    inventory = blueprint.args.inventory
    nodes = {h.host for h in blueprint.mco.result.hosts_in(Role.KUBERNETES_NODE, site)}
    machines = machines_from_hosts(tuple(h for h in inventory.hosts_at(site) if h.name in nodes))
    if len(machines) < template.control_plane_replicas:
        raise TcraError(f"{blueprint.kind}: the plan gives site {site}'s new cluster"
                        f" {len(machines)} host(s), fewer than control_plane_replicas"
                        f" ({template.control_plane_replicas}), for {', '.join(workloads)}")
    workers = len(machines) - template.control_plane_replicas
    return K8sCluster(cluster_name, K8sClusterArgs(
        name=cluster_name, namespace=template.namespace,
        distribution=template.distribution, kubernetes_version=template.kubernetes_version,
        infrastructure=Metal3Infrastructure(endpoint=template.endpoints[site],
                                            image=template.image, machines=machines),
        control_plane=ControlPlane(replicas=template.control_plane_replicas),
        pools=(NodePool(name="workers", replicas=workers),) if workers > 0 else (),
        management=blueprint.args.management), pulumi.ResourceOptions(parent=blueprint))


def _endpoint(site: str, cluster: str, url: str) -> dict[str, Any]:
    return {"site": site, "form": "kubernetes", "cluster": cluster, "url": url}

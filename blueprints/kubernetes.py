"""A blueprint's kubernetes block: a Helm release per container workload, on the cluster the
plan's action at its site names. Reuse: the site's cluster in the inventory, or one the store
records (another service's, its kubeconfig read from the management cluster). Create and
scale: a Cluster API cluster the block declares from the hosts the plan makes its nodes
(provisioned by Metal3); a scale is the same cluster with more workers, so `up` raises its
MachineDeployment's replicas."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi
from pydantic import Field
from tcra.blueprints.diagram import Deployed
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs, read_kubeconfig
from tcra.components.workload import Endpoint, Workload, WorkloadArgs
from tcra.providers.workload_inventory import DeployedObject

from tcra.capi.metal3 import Image
from tcra.errors import TcraError
from tcra.mcm.infrastructure import ControlPlaneEndpoint, Metal3Infrastructure
from tcra.mcm.machines import machines_from_hosts
from tcra.mcm.spec import ControlPlane, Distribution, NodePool
from tcra.mco.model import Role, WorkloadKind
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
    """A Helm release per placed workload, onto the cluster its site's action names."""
    by_site: dict[str, list[str]] = defaultdict(list)
    for workload, site in placed:
        by_site[site].append(workload)
    endpoints: dict[str, Any] = {}
    for site, workloads in sorted(by_site.items()):
        cluster_name, target, made_on = _target(blueprint, name, site, workloads)
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


def _target(blueprint: Blueprint, name: str, site: str,
            workloads: list[str]) -> tuple[str, dict[str, Any], Any]:
    """The cluster's name, the Workload arguments that release onto it, and its name as the
    workload inventory records it (an Output for a cluster this program makes)."""
    plan = blueprint.mco.result
    (action,) = (a for a in plan.actions if a.site == site and a.kind is WorkloadKind.CAF)
    assert action.cluster is not None  # noqa: S101 - every caf action names its cluster
    existing = blueprint.args.inventory.site(site).cluster
    if existing is not None and existing.name == action.cluster:
        # The kubeconfig as text (Workload keeps it secret): the cluster and the chart's
        # source are asked before anything is declared.
        return existing.name, {
            "kubeconfig": existing.kubeconfig.read_text(), "cluster_name": existing.name,
            "registry_ca": existing.registry_ca,
            "endpoint": Endpoint(kind="pod" if existing.pod_endpoints else "service")
        }, existing.name
    template, management = _template(blueprint, site, workloads)
    if any(h.cluster == action.cluster for h in plan.hosts_in(Role.KUBERNETES_NODE, site)):
        cluster = _new_cluster(blueprint, action.cluster, site, workloads, template, management)
        return action.cluster, {"cluster": cluster}, cluster.cluster_name
    # Another service's cluster, recorded in the store: reused as it is.
    kubeconfig = read_kubeconfig(f"{name}-{action.cluster}", template.namespace,
                                 action.cluster, management,
                                 pulumi.ResourceOptions(parent=blueprint))
    return action.cluster, {"kubeconfig": kubeconfig,
                            "cluster_name": action.cluster}, action.cluster


def _template(blueprint: Blueprint, site: str,
              workloads: list[str]) -> tuple[ClusterTemplate, Any]:
    template, management = blueprint.args.kubernetes, blueprint.args.management
    if template is None or management is None:
        raise TcraError(f"{blueprint.kind}: site {site} has no cluster in the inventory, so the"
                        " kubernetes block makes or reuses a Cluster API one: it needs"
                        " `kubernetes` (a ClusterTemplate) and the management cluster, for"
                        f" {', '.join(workloads)}")
    return template, management


def _new_cluster(blueprint: Blueprint, cluster_name: str, site: str, workloads: list[str],
                 template: ClusterTemplate, management: Any) -> K8sCluster:
    if site not in template.endpoints:
        raise TcraError(f"{blueprint.kind}: kubernetes.endpoints has no API address for"
                        f" site {site}, where {', '.join(workloads)} run")
    inventory = blueprint.args.inventory
    nodes = {h.host for h in blueprint.mco.result.hosts_in(Role.KUBERNETES_NODE, site)
             if h.cluster == cluster_name}
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
        management=management), pulumi.ResourceOptions(parent=blueprint))


def _endpoint(site: str, cluster: str, url: str) -> dict[str, Any]:
    return {"site": site, "form": "kubernetes", "cluster": cluster, "url": url}

"""A blueprint's kubernetes block: a Helm release per container workload, on the cluster the
plan's action at its site names. Reuse: the site's cluster in the inventory, or one the store
records (another service's, its kubeconfig read from the management cluster). Create and
scale: a Cluster API cluster the block declares from the hosts the plan makes its nodes
(provisioned by Metal3); a scale is the same cluster with more workers, so `up` raises its
MachineDeployment's replicas. What the block makes is shaped by the workloads the plan puts on
it: their add-ons (a CNI always, Multus and the SR-IOV device plugin for VFs, the linuxptp daemon
for PTP) and their kubelet settings (dedicated CPUs, one NUMA node, hugepages), all checked
before any block is declared."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi
from pydantic import Field
from tcra.blueprints.diagram import Deployed
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs, read_kubeconfig
from tcra.components.workload import Endpoint, Workload, WorkloadArgs
from tcra.providers.workload_inventory import DeployedObject

from tcra.capi.metal3 import Image
from tcra.errors import InvalidInputError, Problem, TcraError
from tcra.mcm.check import check
from tcra.mcm.infrastructure import ControlPlaneEndpoint, Metal3Infrastructure
from tcra.mcm.machines import Machine, machines_from_hosts
from tcra.mcm.spec import (
    AddOns,
    ControlPlane,
    Distribution,
    K8sClusterSpec,
    NodeFeatures,
    NodePool,
)
from tcra.mco.model import Resources, Role, WorkloadKind
from tcra.mco.plan import SiteAction
from tcra.model.base import Model
from tcra.model.host import HugepagePool
from tcra.model.types import cpuset_text

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
    addons: AddOns = Field(default=AddOns(), description="Charts a cluster gets as its"
                           " workloads need them: `cni` always (kubeadm has none of its own),"
                           " `multus` and `sriov` for VFs, `ptp` for PTP, `extra` always."
                           " Point them at your own registry.")


ADDONS = {"cni": "the primary CNI (a kubeadm cluster has none of its own)",
          "multus": "Multus, which attaches VFs to pods as secondary networks",
          "sriov": "the SR-IOV device plugin, which hands VFs out to pods",
          "ptp": "the linuxptp daemon"}
"""The add-ons a cluster's workloads may need, and what each is for."""


def addons_for(template: ClusterTemplate, needs: Mapping[str, Resources]) -> AddOns:
    """The template's charts a cluster running `needs` (workload -> resources) gets."""
    wanted = {feature for need in needs.values() for feature in need.cluster_features}
    return template.addons.model_copy(update={key: None for key in ("multus", "sriov", "ptp")
                                              if key not in wanted})


def addon_problems(where: str, template: ClusterTemplate, cluster: str,
                   needs: Mapping[str, Resources]) -> list[Problem]:
    """Each add-on the cluster's workloads need that the template has no chart for."""
    asked: dict[str, list[str]] = {}
    if template.distribution == "kubeadm":
        asked["cni"] = sorted(needs)
    for workload, need in sorted(needs.items()):
        for feature in need.cluster_features:
            if feature in ADDONS:
                asked.setdefault(feature, []).append(workload)
    return [Problem(where, f"kubernetes.addons.{key}", f"expected a chart for {ADDONS[key]}:"
                    f" cluster {cluster} needs it for {', '.join(who)}", has_value=False)
            for key, who in asked.items() if getattr(template.addons, key) is None]


def node_features(needs: Sequence[Resources], machines: Sequence[Machine]) -> NodeFeatures:
    """The kubelet and kernel settings the workloads need on these machines: whole CPUs of
    their own (the static CPU manager; the CPUs outside a machine's pinnable set stay the
    system's, CPU 0 where it declares none), one NUMA node (the topology manager), and the
    hugepages every machine declares, reserved again at boot since Metal3 writes a fresh
    image."""
    caps = [m.capabilities for m in machines if m.capabilities is not None]
    dedicated = any(n.dedicated_cpus for n in needs)
    numa = any(n.single_numa_node for n in needs)
    reserved = None
    if dedicated or numa:
        kept = {0} if not caps else set().union(*(
            set(range(c.cores)) - set(c.pinnable_cpus) if c.pinnable_cpus else {0}
            for c in caps))
        reserved = cpuset_text(tuple(sorted(kept)))
    hugepages: tuple[HugepagePool, ...] = ()
    if any(n.hugepages.bytes for n in needs) and caps:
        sizes = sorted({p.size for c in caps for p in c.hugepages}, key=lambda q: q.bytes)
        counts = {size: min(sum(p.count for p in c.hugepages if p.size == size) for c in caps)
                  for size in sizes}
        hugepages = tuple(HugepagePool(size=size, count=count)
                          for size, count in counts.items() if count)
    return NodeFeatures(
        cpu_manager_policy="static" if reserved is not None else "none",
        topology_manager_policy=("single-numa-node" if numa
                                 else "best-effort" if dedicated else "none"),
        reserved_cpus=reserved, hugepages=hugepages)


def made_clusters(blueprint: Blueprint) -> dict[str, K8sClusterSpec]:
    """Each cluster the plan makes or scales, by name, shaped by the workloads it puts there;
    every problem with them (a chart missing, an address, a check of tcra.mcm) is reported at
    once, before any block is declared."""
    plan = blueprint.mco.result
    where = blueprint.kind.rsplit(":", 1)[-1]
    specs: dict[str, K8sClusterSpec] = {}
    problems: list[Problem] = []
    for action in plan.actions:
        if action.kind is not WorkloadKind.CAF or not _makes(blueprint, action):
            continue
        assert action.cluster is not None  # noqa: S101 - every caf action names its cluster
        needs = {w: blueprint.entries[w].resources for w in action.workloads}
        template, _ = _template(blueprint, action.site, list(needs))
        spec, found = _spec(blueprint, action.cluster, action.site, needs, template)
        problems += found + addon_problems(where, template, action.cluster, needs)
        if spec is not None:
            problems += check(spec)[1]
            specs[action.cluster] = spec
    if problems:
        raise InvalidInputError(problems)
    return specs


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
            blueprint.releases[workload] = release
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
            "registry_ca": existing.registry_ca, "node_selector": existing.node_selector,
            "endpoint": Endpoint(kind="pod" if existing.pod_endpoints else "service")
        }, existing.name
    template, management = _template(blueprint, site, workloads)
    if action.cluster in blueprint.clusters:
        spec = blueprint.clusters[action.cluster]
        cluster = K8sCluster(action.cluster, K8sClusterArgs(**dict(spec), management=management),
                             pulumi.ResourceOptions(parent=blueprint))
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


def _makes(blueprint: Blueprint, action: SiteAction) -> bool:
    """The plan gives the cluster hosts: this program declares it (a new one, or its own
    scaled); not the site's cluster in the inventory, nor another service's."""
    existing = blueprint.args.inventory.site(action.site).cluster
    return (existing is None or existing.name != action.cluster) and any(
        h.cluster == action.cluster
        for h in blueprint.mco.result.hosts_in(Role.KUBERNETES_NODE, action.site))


def _spec(blueprint: Blueprint, cluster_name: str, site: str, needs: Mapping[str, Resources],
          template: ClusterTemplate) -> tuple[K8sClusterSpec | None, list[Problem]]:
    """The cluster on the hosts the plan gives it: the first machines by name its control
    plane, the rest its workers, which get the workloads' node features (the control plane
    too when it is alone)."""
    where, workloads = blueprint.kind.rsplit(":", 1)[-1], ", ".join(needs)
    if site not in template.endpoints:
        return None, [Problem(where, "kubernetes.endpoints", f"expected an API address for"
                              f" site {site}, where {workloads} run", sorted(template.endpoints))]
    nodes = {h.host for h in blueprint.mco.result.hosts_in(Role.KUBERNETES_NODE, site)
             if h.cluster == cluster_name}
    machines = machines_from_hosts(tuple(h for h in blueprint.args.inventory.hosts_at(site)
                                         if h.name in nodes))
    replicas = template.control_plane_replicas
    if len(machines) < replicas:
        return None, [Problem(where, "kubernetes.control_plane_replicas", f"expected at most"
                              f" {len(machines)}: the plan gives site {site}'s new cluster"
                              f" that many host(s), for {workloads}", replicas)]
    features = node_features(list(needs.values()), machines)
    workers = len(machines) - replicas
    return K8sClusterSpec(
        name=cluster_name, namespace=template.namespace,
        distribution=template.distribution, kubernetes_version=template.kubernetes_version,
        infrastructure=Metal3Infrastructure(endpoint=template.endpoints[site],
                                            image=template.image, machines=machines),
        control_plane=ControlPlane(replicas=replicas,
                                   features=features if not workers else NodeFeatures()),
        pools=((NodePool(name="workers", replicas=workers, features=features),) if workers
               else ()),
        addons=addons_for(template, needs)), []


def _endpoint(site: str, cluster: str, url: str) -> dict[str, Any]:
    return {"site": site, "form": "kubernetes", "cluster": cluster, "url": url}

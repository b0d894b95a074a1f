"""K8sCluster's object graph as plain data: each Cluster API object built, and so validated, from
the spec before Pulumi sees any of it. The same graph feeds the component and the golden files.

Names: the Cluster and its infrastructure cluster (Metal3Cluster or DevCluster) take the
cluster's name, the control plane `<cluster>-cp`, a pool's MachineDeployment `<cluster>-<pool>`.
Machine and bootstrap templates are immutable, so each is named after a hash of its spec: a new
spec is a new template, and the control plane or MachineDeployment that references it rolls its
machines onto it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tcra.capi._meta import KubeObject, LabelSelector, TemplateMeta
from tcra.capi.capd import DevCluster, DevMachineTemplate
from tcra.capi.core import (
    CLUSTER_NAME_LABEL,
    DEPLOYMENT_NAME_LABEL,
    Bootstrap,
    Cluster,
    ClusterNetwork,
    ClusterSpec,
    MachineDeployment,
    MachineDeploymentRollout,
    MachineDeploymentSpec,
    MachineDeploymentStrategy,
    MachineRollingUpdate,
    MachineSpec,
    MachineTemplateSpec,
    NetworkRanges,
)
from tcra.capi.metal3 import Metal3Cluster, Metal3MachineTemplate
from tcra.errors import InvalidInputError, problems_from, raise_if_any
from tcra.mcm import inmemory, metal3
from tcra.mcm.assign import Group
from tcra.mcm.bootstrap import (
    BootstrapTemplate,
    ControlPlaneObject,
    bootstrap_template,
    control_plane,
    replicated,
)
from tcra.mcm.check import check
from tcra.mcm.infrastructure import Metal3Infrastructure
from tcra.mcm.metal3 import HostPlan
from tcra.mcm.naming import Metadata
from tcra.mcm.spec import K8sClusterSpec, NodePool

InfrastructureCluster = Metal3Cluster | DevCluster
MachineTemplate = Metal3MachineTemplate | DevMachineTemplate


@dataclass(frozen=True)
class PoolPlan:
    name: str
    machine_template: MachineTemplate
    bootstrap_template: BootstrapTemplate
    deployment: MachineDeployment
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ClusterPlan:
    cluster: Cluster
    infrastructure: InfrastructureCluster
    control_plane: ControlPlaneObject
    control_plane_template: MachineTemplate
    control_plane_hosts: tuple[str, ...]
    pools: tuple[PoolPlan, ...]
    hosts: tuple[HostPlan, ...]
    warnings: tuple[str, ...] = ()

    def objects(self) -> list[KubeObject]:
        """Every object but the BMC Secrets, in the order they are declared: hosts, the
        infrastructure cluster and the Cluster, machine templates, the control plane, then the
        pools' bootstrap templates and MachineDeployments."""
        return [*(h.host for h in self.hosts), self.infrastructure, self.cluster,
                self.control_plane_template, *(p.machine_template for p in self.pools),
                self.control_plane, *(p.bootstrap_template for p in self.pools),
                *(p.deployment for p in self.pools)]

    def manifests(self) -> list[dict[str, Any]]:
        """What goes to the management cluster. BMC Secrets show where the password comes
        from, never the password."""
        secrets = [{"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": h.secret_name, "namespace": h.host.metadata.namespace,
                                 "labels": h.host.metadata.labels},
                    "type": "Opaque",
                    "stringData": {"username": h.machine.bmc.credentials.username,
                                   "password": f"<secret {h.machine.bmc.credentials.password}>"}}
                   for h in self.hosts]
        return [*secrets, *(obj.manifest() for obj in self.objects())]


def plan(spec: K8sClusterSpec) -> ClusterPlan:
    """The validated object graph; InvalidInputError names every problem with the spec."""
    groups, problems = check(spec)
    raise_if_any(problems)
    try:
        return _build(spec, groups)
    except ValidationError as exc:  # a rule of an API the checks do not know yet
        raise InvalidInputError(problems_from(exc, f"K8sCluster {spec.name}")) from None


def _build(spec: K8sClusterSpec, groups: list[Group]) -> ClusterPlan:
    name, infrastructure = spec.name, spec.infrastructure
    meta = Metadata(name, spec.namespace)
    infra_cluster: InfrastructureCluster
    hosts: tuple[HostPlan, ...] = ()
    if isinstance(infrastructure, Metal3Infrastructure):
        infra_cluster = metal3.infrastructure_cluster(infrastructure, name, meta)
        hosts = metal3.hosts(infrastructure, name, spec.namespace, groups)
    else:
        infra_cluster = inmemory.infrastructure_cluster(name, spec.namespace, meta)

    def machine_template(group: Group, base: str) -> MachineTemplate:
        if isinstance(infrastructure, Metal3Infrastructure):
            return metal3.machine_template(name, group, base, meta)
        return inmemory.machine_template(infrastructure, base, meta)

    control, *pools = groups
    cp_template = machine_template(control, f"{name}-cp")
    cp = control_plane(spec, control, cp_template, meta)
    cluster = Cluster(metadata=meta(name), spec=ClusterSpec(
        cluster_network=ClusterNetwork(
            pods=NetworkRanges(cidr_blocks=spec.network.pods),
            services=NetworkRanges(cidr_blocks=spec.network.services),
            service_domain=spec.network.service_domain),
        control_plane_ref=cp.contract_ref(), infrastructure_ref=infra_cluster.contract_ref()))
    pool_plans = []
    for group, settings in zip(pools, spec.pools, strict=True):
        base = f"{name}-{group.key}"
        infra = machine_template(group, base)
        bootstrap = bootstrap_template(spec, group, base, meta)
        deployment = _deployment(spec, settings, base, bootstrap, infra, meta)
        pool_plans.append(PoolPlan(group.key, infra, bootstrap, deployment,
                                   _names(group)))
    warnings = tuple(w for g in groups if (w := g.short_of_spares))
    return ClusterPlan(cluster, infra_cluster, cp, cp_template, _names(control),
                       tuple(pool_plans), hosts, warnings)


def _deployment(spec: K8sClusterSpec, pool: NodePool, name: str, bootstrap: BootstrapTemplate,
                infra: MachineTemplate, meta: Metadata) -> MachineDeployment:
    selector = {CLUSTER_NAME_LABEL: spec.name, DEPLOYMENT_NAME_LABEL: name}
    return MachineDeployment(metadata=meta(name, replicated("condition=Available")),
                             spec=MachineDeploymentSpec(
        cluster_name=spec.name, replicas=pool.replicas,
        selector=LabelSelector(match_labels=selector),
        template=MachineTemplateSpec(metadata=TemplateMeta(labels=selector), spec=MachineSpec(
            cluster_name=spec.name, bootstrap=Bootstrap(config_ref=bootstrap.contract_ref()),
            infrastructure_ref=infra.contract_ref(), version=spec.kubernetes_version)),
        rollout=MachineDeploymentRollout(strategy=MachineDeploymentStrategy(
            rolling_update=MachineRollingUpdate(max_surge=pool.max_surge,
                                                max_unavailable=pool.max_unavailable)))))


def _names(group: Group) -> tuple[str, ...]:
    return tuple(m.name for m in group.machines or ())

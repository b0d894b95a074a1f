"""tcra.mcm: the Multi-Cluster Manager's cluster logic as plain data, with no Pulumi in it.

A `K8sClusterSpec` says what a workload cluster is, including where its machines come from
(`Metal3Infrastructure` for hardware, `InMemoryInfrastructure` for CAPD's simulated machines);
`plan(spec)` checks it (every problem at once, as InvalidInputError) and builds its Cluster API
object graph (`ClusterPlan`) from the typed models in tcra.capi. The Pulumi component
`tcra.components.k8s_cluster.K8sCluster` only declares that graph on a management cluster.

Modules, one job each: spec (the model), infrastructure (the Metal3 or in-memory choice),
machines (what Metal3 provisions), assign (which machines each group gets), check (the checks),
naming (derived names and labels), bootstrap (kubeadm and RKE2 configuration), metal3 and
inmemory (their parts of the graph), plan (the graph), chart (pinned Helm charts).
"""

from tcra.capi.metal3 import Image
from tcra.mcm.chart import Chart
from tcra.mcm.infrastructure import (
    ControlPlaneEndpoint,
    InMemoryInfrastructure,
    Metal3Infrastructure,
)
from tcra.mcm.machines import EmulatedVm, Machine, machines_from_hosts, machines_from_vms
from tcra.mcm.metal3 import HostPlan
from tcra.mcm.plan import ClusterPlan, PoolPlan, plan
from tcra.mcm.spec import AddOns, ControlPlane, K8sClusterSpec, Network, NodeFeatures, NodePool
from tcra.model.host_filter import HostFilter

__all__ = [
    "AddOns",
    "Chart",
    "ClusterPlan",
    "ControlPlane",
    "ControlPlaneEndpoint",
    "EmulatedVm",
    "HostFilter",
    "HostPlan",
    "Image",
    "InMemoryInfrastructure",
    "K8sClusterSpec",
    "Machine",
    "Metal3Infrastructure",
    "Network",
    "NodeFeatures",
    "NodePool",
    "PoolPlan",
    "machines_from_hosts",
    "machines_from_vms",
    "plan",
]

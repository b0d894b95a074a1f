"""What a workload cluster is, as plain data: K8sClusterSpec and its parts. Checked in
tcra.mcm.check, turned into Cluster API objects by tcra.mcm.plan; the Pulumi component adds only
the management cluster's provider (components/k8s_cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from tcra.capi.metal3 import Image
from tcra.mcm.chart import Chart
from tcra.mcm.infrastructure import Infrastructure
from tcra.model.base import Model
from tcra.model.host import HugepagePool
from tcra.model.host_filter import HostFilter

Distribution = Literal["kubeadm", "rke2"]


class NodeFeatures(Model):
    """What telco workloads need from the kubelet and the kernel of a group of nodes."""

    cpu_manager_policy: Literal["none", "static"] = Field(
        default="none", description="static: pods with whole-CPU requests get exclusive CPUs.")
    topology_manager_policy: Literal["none", "best-effort", "restricted", "single-numa-node"] = (
        "none")
    reserved_cpus: str | None = Field(default=None, description='CPUs kept for the system and'
                                      ' the kubelet, a cpuset like "0-1,32-33".')
    hugepages: tuple[HugepagePool, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels.")

    @property
    def tunes_kubelet(self) -> bool:
        return (self.cpu_manager_policy != "none" or self.topology_manager_policy != "none"
                or self.reserved_cpus is not None)


class ControlPlane(Model):
    replicas: int = Field(default=1, ge=1)
    machines: tuple[str, ...] = Field(default=(), description="Metal3 machine names; empty:"
                                      " select.")
    select: HostFilter | None = Field(default=None, description="Capabilities a machine needs"
                                      " to be selected (when `machines` is empty).")
    features: NodeFeatures = NodeFeatures()
    image: Image | None = Field(default=None, description="Defaults to the Metal3 image.")
    max_surge: Literal[0, 1] | None = Field(default=None, description="Machines added before"
                                            " one is removed in a rollout; default 1 below 3"
                                            " replicas (then a spare machine is needed), else 0.")

    @property
    def surge(self) -> Literal[0, 1]:
        if self.max_surge is not None:
            return self.max_surge
        return 1 if self.replicas < 3 else 0


class NodePool(Model):
    name: str
    replicas: int = Field(ge=0)
    machines: tuple[str, ...] = Field(default=(), description="Metal3 machine names; empty:"
                                      " select.")
    select: HostFilter | None = None
    features: NodeFeatures = NodeFeatures()
    image: Image | None = None
    max_surge: int = Field(default=0, ge=0, description="Bare metal has no spare by default:"
                           " roll by removing one machine, then adding its successor.")
    max_unavailable: int = Field(default=1, ge=0)


class Network(Model):
    pods: tuple[str, ...] = ("10.244.0.0/16",)
    services: tuple[str, ...] = ("10.96.0.0/12",)
    service_domain: str = "cluster.local"


class AddOns(Model):
    """Helm charts released onto the workload cluster once it answers."""

    cni: Chart | None = Field(default=None, description="Primary CNI; kubeadm clusters need one"
                              " (RKE2 brings its own, see rke2_cni).")
    multus: Chart | None = None
    sriov: Chart | None = Field(default=None, description="SR-IOV device plugin (or operator).")
    ptp: Chart | None = None
    extra: tuple[Chart, ...] = ()

    def charts(self) -> Iterator[tuple[str, Chart]]:
        """(key, chart), CNI first: the order they are released in."""
        for key in ("cni", "multus", "sriov", "ptp"):
            chart = getattr(self, key)
            if chart is not None:
                yield key, chart
        for index, chart in enumerate(self.extra):
            yield f"extra-{index}", chart


class K8sClusterSpec(Model):
    """A workload cluster declared as Cluster API objects on a management cluster."""

    name: str
    namespace: str = Field(default="default", description="Namespace of the Cluster API objects"
                           " on the management cluster; it must exist.")
    distribution: Distribution = "kubeadm"
    kubernetes_version: str
    infrastructure: Infrastructure = Field(description="Metal3Infrastructure (hardware, the"
                                           " machines and image) or InMemoryInfrastructure.")
    control_plane: ControlPlane = ControlPlane()
    pools: tuple[NodePool, ...] = ()
    network: Network = Network()
    addons: AddOns = AddOns()
    rke2_cni: Literal["none", "calico", "canal", "cilium"] = "canal"
    control_plane_timeout: str = Field(default="60m", pattern=r"^\d+[mh]$", description="How"
                                       " long an up waits for the control plane to initialize.")

"""What the MCO is asked (ServiceRequest), under which rules (Policy), over what (Repository)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from tcra.model.base import Model
from tcra.model.host import HostName
from tcra.model.site import ClusterFeature, Location, Site, Tier
from tcra.model.types import Count, CountryCode, Name, Quantity


class WorkloadKind(StrEnum):
    """TCRA application forms: container (CAF), virtual machine (VAF), physical (PAF)."""

    CAF = "caf"
    VAF = "vaf"
    PAF = "paf"


class Resources(Model):
    cpu: float = Field(gt=0, description="CPU cores.")
    memory: Quantity
    hugepages: Quantity = Quantity(0)
    gpus: Count = Field(default=0, ge=0)
    sriov_vfs: Count = Field(default=0, ge=0)
    ptp: bool = False
    dedicated_cpus: bool = Field(default=False, description="Each vCPU pinned to a host CPU"
                                 " of its own that no other VM is pinned to (vaf), or whole"
                                 " CPUs of its own from the kubelet's static CPU manager"
                                 " (caf); cpu must then be whole.")
    single_numa_node: bool = Field(default=False, description="CPUs, memory and hugepages"
                                   " (and VFs, caf) from one host NUMA node.")

    @field_validator("memory")
    @classmethod
    def _memory_positive(cls, memory: Quantity) -> Quantity:
        if memory.bytes <= 0:
            raise ValueError("expected more than 0 bytes of memory")
        return memory

    @model_validator(mode="after")
    def _whole_cpus(self) -> Resources:
        if self.dedicated_cpus and self.cpu != int(self.cpu):
            raise ValueError(f"cpu: dedicated CPUs are whole, expected a whole number, got"
                             f" {self.cpu:g}")
        return self

    def vm_problems(self, kind: WorkloadKind) -> list[str]:
        """What a workload of this kind cannot be given: a VM's memory is backed by hugepages
        whole or not at all."""
        if (kind is WorkloadKind.VAF and self.hugepages.bytes
                and self.hugepages != self.memory):
            return [f"hugepages: a VM's memory is backed by hugepages whole, expected 0 or its"
                    f" memory ({self.memory}), got {self.hugepages}"]
        return []

    @property
    def cluster_features(self) -> tuple[ClusterFeature, ...]:
        """What a container workload needs of its cluster beyond a CNI: VFs come through
        Multus and the SR-IOV device plugin."""
        wanted: list[ClusterFeature] = []
        if self.sriov_vfs:
            wanted += ["multus", "sriov"]
        if self.ptp:
            wanted.append("ptp")
        if self.dedicated_cpus:
            wanted.append("dedicated-cpus")
        if self.single_numa_node:
            wanted.append("single-numa-node")
        return tuple(wanted)


class LatencyBudget(Model):
    area: Name
    max_ms: float = Field(gt=0, description="Round-trip budget in milliseconds.")


class WorkloadRequest(Model):
    """One workload of a service request: what it needs, and where it may run."""

    name: Name
    kind: WorkloadKind = WorkloadKind.CAF
    resources: Resources
    latency: tuple[LatencyBudget, ...] = ()
    jurisdictions: tuple[CountryCode, ...] = Field(
        default=(), description="Allowed jurisdictions; empty means any.")
    sites: tuple[Name, ...] = Field(default=(), description="Allowed sites (the edge cloud"
                                    " zones an application provider named); empty means any.")
    deferred: bool = Field(default=False, description="May wait for capacity (not placed now).")

    @model_validator(mode="after")
    def _resources_fit_the_kind(self) -> WorkloadRequest:
        if problems := self.resources.vm_problems(self.kind):
            raise ValueError(f"resources: {'; '.join(problems)}")
        return self


class WorkloadPair(Model):
    """Two workloads of the request, by name, for an affinity rule."""

    first: Name
    second: Name


class MeasuredPath(Model):
    """What the users of a service's workload measured to it (the action agent's probe): a
    fact about their path to `site`, not about the site's other workloads."""

    workload: Name
    site: Name
    rtt_ms: float = Field(gt=0)


class ServiceRequest(Model):
    name: Name
    tenant: Name = "default"
    areas: dict[Name, Location] = Field(default_factory=dict,
                                        description="Where the service's users are.")
    workloads: tuple[WorkloadRequest, ...] = Field(min_length=1)
    affinity: tuple[WorkloadPair, ...] = Field(default=(),
                                               description="Pairs placed at the same site.")
    anti_affinity: tuple[WorkloadPair, ...] = Field(default=(),
                                                    description="Pairs placed at different sites.")
    chain: tuple[Name, ...] = Field(default=(), description="Service chain, user side first.")


class Weights(Model):
    latency: float = Field(default=1.0, ge=0)
    cost: float = Field(default=1.0, ge=0)
    carbon: float = Field(default=1.0, ge=0)
    balance: float = Field(default=0.5, ge=0)


class Policy(Model):
    """The Policy Manager's rules for one tenant: weights to trade off, limits never crossed."""

    tenant: Name = "default"
    weights: Weights = Weights()
    max_carbon_intensity: float | None = Field(default=None, gt=0, description="gCO2/kWh.")
    max_price_per_kwh: float | None = Field(default=None, gt=0)
    min_renewable_share: float | None = Field(default=None, ge=0, le=1)
    tiers: tuple[Tier, ...] = Field(default=(), description="Allowed tiers; empty means any.")
    migration_cost: float = Field(default=0.05, ge=0,
                                  description="Score a move must gain to leave its site.")


class Capacity(Model):
    """Free resources at a site (or in a cluster)."""

    cpu: float = Field(ge=0)
    memory: Quantity
    hugepages: Quantity = Quantity(0)
    gpus: Count = Field(default=0, ge=0)
    sriov_vfs: Count = Field(default=0, ge=0)
    hosts: Count = Field(default=0, ge=0, description="Whole hosts free, for physical workloads.")


class SiteState(Model):
    """A site as the resource repository (TCRR) knows it."""

    site: Site
    free: Capacity
    largest_host_cpu: float = Field(ge=0, description="A workload must fit on one host.")
    ptp: bool = False
    hypervisor: bool = Field(default=True, description="VM workloads (vaf) can run here.")
    latency_ms: dict[Name, float] = Field(default_factory=dict,
                                          description="Measured latency to user areas.")


class ClusterState(Model):
    """A cluster as the resource repository (TCRR) knows it: room left, and room to grow."""

    name: Name
    site: Name
    kind: WorkloadKind = Field(description="caf: Kubernetes cluster, vaf: VM cluster.")
    free: Capacity
    node: Capacity = Field(description="What one more node adds.")
    max_nodes_to_add: Count = Field(default=10, ge=0)


class Placement(Model):
    """Where the plan put a workload of a service, and what it takes there (none: a
    placement given in a file, counted against no site)."""

    service: Name
    workload: Name
    site: Name
    cluster: Name | None = None
    kind: WorkloadKind = WorkloadKind.CAF
    resources: Resources | None = None
    latency: tuple[LatencyBudget, ...] = Field(default=(), description="The workload's round"
                                               "-trip budgets, what sensing holds it to.")
    cost_per_hour: float = Field(default=0.0, ge=0, description="The plan's estimate, EUR.")
    carbon_per_hour: float = Field(default=0.0, ge=0, description="The plan's estimate, gCO2.")


class Role(StrEnum):
    """What a host is for. A host has one role at a time, whichever service holds it."""

    BARE_METAL = "bare-metal"
    HYPERVISOR = "hypervisor"
    KUBERNETES_NODE = "kubernetes-node"


class HostRole(Model):
    """A host a service holds in a role: a paf workload's whole machine, a hypervisor its VMs
    run on, or a node of a cluster it creates or scales."""

    site: Name
    host: HostName
    role: Role
    service: Name
    workloads: tuple[Name, ...] = Field(default=(), description="The paf workload (bare"
                                        " metal) or the VMs (hypervisor) on the host.")
    cluster: Name | None = Field(default=None, description="The cluster a node belongs to.")

    @property
    def exclusive(self) -> bool:
        """Bare metal and cluster nodes are one service's; a hypervisor's VMs may be many's."""
        return self.role is not Role.HYPERVISOR


class Usage(Model):
    """What the workload inventory records as taken, by every service: placements with their
    resources, and hosts in a role."""

    placements: tuple[Placement, ...] = ()
    hosts: tuple[HostRole, ...] = ()

    def of(self, service: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.service == service)

    def besides(self, service: str) -> Usage:
        """Every other service's use: what `service` cannot have."""
        return Usage(placements=tuple(p for p in self.placements if p.service != service),
                     hosts=tuple(h for h in self.hosts if h.service != service))


class DeployedWorkload(Model):
    """What was really made for one placed workload: read from the resources that made it,
    so it names their cluster, VM and host, not what the plan called them."""

    workload: Name
    cluster: str | None = Field(default=None, max_length=63, description="The Kubernetes"
                                " cluster its Helm release runs on (caf).")
    release: str | None = Field(default=None, max_length=53, description="Helm release (caf).")
    namespace: str | None = Field(default=None, max_length=63)
    vm_uuid: str | None = Field(default=None, max_length=36, description="libvirt domain (vaf).")
    host_serial: str | None = Field(default=None, max_length=253, description="The claimed"
                                    " host's serial number, as its BMC reports it (paf).")
    sid: str | None = Field(default=None, max_length=39, description="Its SRv6 SID in the"
                            " service chain.")


class Running(Model):
    """A placed workload as sensing and accounting see it."""

    placement: Placement
    tenant: Name
    since: float | None = Field(default=None, description="When it came to its site (seconds"
                                " since the epoch); none if recorded before the store kept it.")
    deployed: bool = Field(description="What was made for it is in the workload inventory.")


class ServiceRecord(Model):
    """The workload inventory (TCWI) of one service, as its WorkloadInventory resource wrote
    it at `up`: the plan's placements and hosts, and what was deployed for them."""

    service: Name
    tenant: Name
    owner: str = Field(min_length=1, max_length=512, description="The resource that wrote"
                       " it (tcra.ownership); another one's record is left alone.")
    placements: tuple[Placement, ...] = ()
    hosts: tuple[HostRole, ...] = ()
    deployed: tuple[DeployedWorkload, ...] = ()

    def hosts_of(self, workload: str) -> tuple[str, ...]:
        """The hosts its roles give the workload: its bare-metal host or hypervisor, or the
        nodes of the cluster the plan made for it."""
        cluster = next((p.cluster for p in self.placements if p.workload == workload), None)
        return tuple(sorted({h.host for h in self.hosts if workload in h.workloads
                             or (cluster is not None and h.cluster == cluster)}))


class HypervisorFree(Model):
    """What libvirt reports free on one hypervisor."""

    hypervisor: HostName
    memory: Quantity = Field(description="Free memory, with the page cache and buffers the"
                             " kernel gives back when asked.")
    hugepages: Quantity = Field(description="Free hugepages of every size, in bytes.")


class ClusterRoom(Model):
    """An existing cluster's room: its schedulable nodes' allocatable less the requests of
    its pods not yet finished (pending ones too: they wait for that room)."""

    site: Name
    cluster: str
    cpu: float = Field(ge=0)
    memory: Quantity
    hugepages: Quantity = Quantity(0)


class LiveReading(Model):
    """What the live peers reported in use, at one moment (`tcra.mco.live.read`)."""

    powered_on: frozenset[HostName] = Field(default=frozenset(), description="Inventory hosts"
                                            " whose BMC reports them On.")
    hypervisors: tuple[HypervisorFree, ...] = ()
    clusters: tuple[ClusterRoom, ...] = ()


class Repository(Model):
    sites: tuple[SiteState, ...]
    clusters: tuple[ClusterState, ...] = ()
    placements: tuple[Placement, ...] = ()
    new_clusters: bool = Field(default=True, description="A Kubernetes cluster can be made"
                               " where none runs (Cluster API); without, container workloads"
                               " (caf) go only to sites with a cluster.")


class PlacementInput(Model):
    """A placement file: the request, the tenant's policy, and what already runs; optionally
    the repository to place on (what `tcra continuum generate` prints), instead of an
    inventory."""

    request: ServiceRequest
    policy: Policy = Policy()
    clusters: tuple[ClusterState, ...] = ()
    placements: tuple[Placement, ...] = ()
    repository: Repository | None = Field(
        default=None, description="Sites, clusters and placements to place on (TCRR); with it,"
        " clusters and placements go inside it and no inventory is given.")

    @model_validator(mode="after")
    def _one_place_for_what_runs(self) -> PlacementInput:
        if self.repository is not None and (self.clusters or self.placements):
            raise ValueError("expected clusters and placements inside repository when a"
                             " repository is given")
        return self

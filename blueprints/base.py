"""What every blueprint does: turn a catalog of workloads into a service request, let the MCO
place it, and declare what the plan needs with the other blocks' components.

A vertical blueprint supplies its catalog and the shape of its request; a team changes one
step by overriding one method (`request`, `virtual_machines`, `bare_metal`, `containers`,
`connectivity`) or by passing other arguments, never by copying the blueprint.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from ipaddress import IPv6Address
from typing import Any

import pulumi
from pydantic import ConfigDict, Field, model_validator
from tcra.blueprints.diagram import Deployed, graphviz
from tcra.blueprints.kubernetes import ClusterTemplate, declare, made_clusters
from tcra.components.orchestrator import MultiCloudOrchestrator, MultiCloudOrchestratorArgs
from tcra.components.physical_pool import PhysicalPool, PhysicalPoolArgs
from tcra.components.srv6_chain import SRv6Chain, SRv6ChainArgs
from tcra.components.workload import Workload
from tcra.providers.virtual_machine import VirtualMachine, VirtualMachineArgs
from tcra.providers.workload_inventory import DeployedObject, WorkloadInventory

from tcra.errors import InvalidInputError, Problem
from tcra.mcm.chart import Chart
from tcra.mco.model import (
    LatencyBudget,
    Policy,
    Resources,
    Role,
    ServiceRequest,
    WorkloadKind,
    WorkloadRequest,
)
from tcra.model import Inventory
from tcra.model.base import Model
from tcra.model.fabric import Chain, Hbr
from tcra.model.host import VmPlatform
from tcra.model.types import IPv6Prefix, Name
from tcra.tcm.compute import check
from tcra.vip.model import CloudInit, Disk, Interface
from tcra.vip.share import VmShare, share


class CatalogEntry(Model):
    """One workload the blueprint offers, in the form it runs in."""

    name: Name
    form: WorkloadKind = Field(description="caf: container (Helm), vaf: VM, paf: bare metal.")
    resources: Resources
    max_latency_ms: float | None = Field(default=None, gt=0, description="Round trip to the"
                                         " users it serves.")
    per_site: bool = Field(default=True, description="One instance per served site; false:"
                           " one shared instance for all of them.")
    chart: Chart | None = Field(default=None, description="For caf workloads; the release is"
                                " named after the workload unless release_name is set.")
    description: str = ""

    @model_validator(mode="after")
    def _chart_for_containers(self) -> CatalogEntry:
        if self.form is WorkloadKind.CAF and self.chart is None:
            raise ValueError(f"chart: a container workload ({self.name}) needs a Helm chart")
        if problems := self.resources.vm_problems(self.form):
            raise ValueError(f"resources: {'; '.join(problems)}")
        return self


class Blocks(Model):
    """Which optional TCRA blocks the blueprint declares; the MCO always runs."""

    bare_metal: bool = Field(default=True, description="PIM: claim hosts for paf workloads.")
    virtual_machines: bool = Field(default=True, description="VIP: VMs for vaf workloads.")
    kubernetes: bool = Field(default=False, description="MCM and WDM: clusters and Helm"
                             " releases for caf workloads; needs a management cluster.")
    connectivity: bool = Field(default=True, description="TCM: the SRv6 chain.")


class ChainIntent(Model):
    """The service chain users' traffic crosses, through workloads of the request: each is
    steered to the HBR of the site the plan puts it at."""

    destination: IPv6Prefix = Field(description="Service prefix users reach.")
    functions: tuple[Name, ...] = Field(default=(), description="Workloads, in order.")
    egress: Name = Field(description="The workload that receives the traffic.")
    ingress: Name | None = Field(default=None, description="Site where users attach; its HBR"
                                 " encapsulates.")


def on_the_path(request: ServiceRequest, chain: ChainIntent | None) -> ServiceRequest:
    """Users reach the egress through the chain's functions: the request names the chain, and
    a function without a latency budget of its own gets the egress's. A placement (and a
    re-placement on the round trip the users measured) that keeps the egress near its users
    then keeps their whole path there."""
    by_name = {w.name: w for w in request.workloads}
    if chain is None or not {*chain.functions, chain.egress} <= set(by_name):
        return request  # refused with the chain's field once placed (`placed_chain`)
    budgets = by_name[chain.egress].latency
    return request.model_copy(update={"chain": (*chain.functions, chain.egress),
                                      "workloads": tuple(
        w.model_copy(update={"latency": budgets})
        if w.name in chain.functions and not w.latency else w for w in request.workloads)})


class BlueprintArgs(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    inventory: Inventory
    catalog: tuple[CatalogEntry, ...] = Field(min_length=1)
    policy: Policy = Policy()
    blocks: Blocks = Blocks()
    vm_platform: VmPlatform | None = None
    chain: ChainIntent | None = None
    store_url: str | None = Field(default=None, description="MCO store: sticky placements.")
    live: bool = Field(default=True, description="With a store, place beside what the live"
                       " peers report in use (MultiCloudOrchestratorArgs.live).")
    allow_partial: bool = Field(default=False, description="Deploy what can be placed; the"
                                " rest is reported in not_deployed instead of failing.")
    kubernetes: ClusterTemplate | None = Field(default=None, description="The workload"
                                               " clusters of the kubernetes block.")
    management: Any = Field(default=None, description="pulumi_kubernetes.Provider of the"
                            " management cluster (the kubernetes block).")

    def problems(self, kind: str) -> list[Problem]:
        """Mistakes across fields, found before anything is declared."""
        found = []
        if self.blocks.virtual_machines and self.vm_platform is None and any(
                e.form is WorkloadKind.VAF for e in self.catalog):
            found.append(Problem(kind, "vm_platform", "VM workloads need a pool and a network"
                                 " (or turn blocks.virtual_machines off)", has_value=False))
        if self.blocks.connectivity and self.chain is not None and self.inventory.fabric is None:
            found.append(Problem(kind, "chain", "the inventory has no tcra_fabric to program",
                                 has_value=False))
        return found


def site_problem(kind: str, field: str, value: str, inventory: Inventory) -> Problem | None:
    known = [s.id for s in inventory.sites]
    if value in known:
        return None
    return Problem(kind, field, f"expected a site of the inventory ({', '.join(known)})", value)


class Blueprint(pulumi.ComponentResource):
    """Outputs: `plan`, `endpoints` (workload -> where and what runs it), `chain` (the path),
    `not_deployed` (workload -> why), `diagram` (Graphviz DOT of what was deployed). With a
    store, `workload_inventory` is the resource that records what was deployed at `up`."""

    kind = "tcra:blueprint:Blueprint"
    plan: pulumi.Output[dict[str, Any]]
    endpoints: pulumi.Output[dict[str, Any]]
    chain: pulumi.Output[str | None]
    not_deployed: pulumi.Output[dict[str, str]]
    diagram: pulumi.Output[str]

    def __init__(self, name: str, args: BlueprintArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if problems := args.problems(self.kind.rsplit(":", 1)[-1]):
            raise InvalidInputError(problems)
        super().__init__(self.kind, name, None, opts)
        self.args = args
        self.entries: dict[str, CatalogEntry] = {}
        self.request_made = on_the_path(self.request(name, args),
                                        args.chain if args.blocks.connectivity else None)
        self.mco = MultiCloudOrchestrator(f"{name}-mco", MultiCloudOrchestratorArgs(
            inventory=args.inventory, request=self.request_made, policy=args.policy,
            store_url=args.store_url or args.inventory.store, allow_partial=args.allow_partial,
            live=args.live,
            new_clusters=not args.blocks.kubernetes or None not in (args.kubernetes,
                                                                    args.management)),
            pulumi.ResourceOptions(parent=self))
        placed = self.mco.result
        self.chain_made: Chain | None = (self.placed_chain(name) if args.blocks.connectivity
                                         else None)
        self.clusters = made_clusters(self) if args.blocks.kubernetes else {}
        self.releases: dict[str, Workload] = {}
        """Each container workload's Helm release, as `containers` declares it."""
        deployed = Deployed(plan=placed)
        by_form: dict[WorkloadKind, list[tuple[str, str]]] = defaultdict(list)
        for assignment in placed.assignments:
            by_form[self.entries[assignment.workload].form].append(
                (assignment.workload, assignment.site))
        endpoints: dict[str, Any] = {}
        if args.blocks.virtual_machines:
            endpoints |= self.virtual_machines(name, by_form[WorkloadKind.VAF], deployed)
        if args.blocks.bare_metal:
            endpoints |= self.bare_metal(name, by_form[WorkloadKind.PAF], deployed)
        if args.blocks.kubernetes:
            endpoints |= self.containers(name, by_form[WorkloadKind.CAF], deployed)
        chain = self.connectivity(name, deployed) if args.blocks.connectivity else None
        self.workload_inventory = self.record(deployed, chain)
        not_deployed = {w: self.why_not(self.entries[w].form) for _, pairs in by_form.items()
                        for w, _site in pairs if w not in endpoints}
        not_deployed |= {u.workload: f"not placed: {u.reason}" for u in placed.unplaced}
        deployed.not_deployed = not_deployed
        self.plan = self.mco.plan
        self.endpoints = pulumi.Output.from_input(endpoints)
        self.chain = chain.path if chain is not None else pulumi.Output.from_input(None)
        self.not_deployed = pulumi.Output.from_input(not_deployed)
        self.diagram = pulumi.Output.from_input(graphviz(name, deployed))
        self.register_outputs({"plan": self.plan, "endpoints": self.endpoints,
                               "chain": self.chain, "not_deployed": self.not_deployed,
                               "diagram": self.diagram})

    def export(self) -> None:
        """The stack's outputs: what `pulumi stack output` and scripts/deploy-lab show."""
        for key in ("plan", "endpoints", "chain", "not_deployed", "diagram"):
            pulumi.export(key, getattr(self, key))

    # -- steps a vertical or a team overrides ------------------------------------------------

    def request(self, name: str, args: BlueprintArgs) -> ServiceRequest:
        raise NotImplementedError

    def workload(self, entry: CatalogEntry, name: str,
                 latency: tuple[LatencyBudget, ...] = ()) -> WorkloadRequest:
        """A request's workload for one instance of a catalog entry (remembered for later)."""
        self.entries[name] = entry
        return WorkloadRequest(name=name, kind=entry.form, resources=entry.resources,
                               latency=latency)

    def virtual_machines(self, name: str, placed: list[tuple[str, str]],
                         deployed: Deployed) -> dict[str, Any]:
        """One VM per vaf workload, on the hypervisor the plan gives it, with its share of
        that host (`tcra.vip.share`): pinned CPUs, NUMA node, hugepages, VF NICs."""
        platform = self.args.vm_platform
        assert platform is not None  # noqa: S101 - BlueprintArgs.problems saw to it
        endpoints: dict[str, Any] = {}
        shares: dict[str, VmShare] = {}
        for site in sorted({site for _, site in placed}):
            for held in self.mco.result.hosts_in(Role.HYPERVISOR, site):
                caps = self.args.inventory.hypervisor(held.host).capabilities
                shares |= share(held.host, caps,
                                {w: self.entries[w].resources for w in held.workloads})
        for workload, site in placed:
            (held,) = (h for h in self.mco.result.hosts_in(Role.HYPERVISOR, site)
                       if workload in h.workloads)
            hypervisor = self.args.inventory.hypervisor(held.host)
            given = shares[workload]
            vm = VirtualMachine(f"{name}-{workload}", VirtualMachineArgs(
                name=workload.replace("_", "-"), uri=hypervisor.libvirt_uri,
                vcpus=given.vcpus, memory=self.entries[workload].resources.memory,
                pinning=given.pinning, numa_node=given.numa_node, hugepages=given.hugepages,
                disks=(Disk(pool=platform.pool, size=platform.disk,
                            base_image=platform.base_image),),
                interfaces=(Interface(network=platform.network),
                            *(Interface(vf_network=n) for n in given.vf_networks)),
                cloud_init=CloudInit(ssh_authorized_keys=platform.ssh_authorized_keys),
                shutdown_timeout=10), pulumi.ResourceOptions(parent=self))
            deployed.add(workload, site, "vm", f"VM on {hypervisor.name}",
                         made=DeployedObject(workload=workload, vm_uuid=vm.uuid), by=vm)
            endpoints[workload] = pulumi.Output.all(vm.state, vm.addresses).apply(
                partial(_vm_endpoint, site, hypervisor.name))
        return endpoints

    def bare_metal(self, name: str, placed: list[tuple[str, str]],
                   deployed: Deployed) -> dict[str, Any]:
        """Claim the host the plan gives each paf workload, per site."""
        endpoints: dict[str, Any] = {}
        by_site: dict[str, list[str]] = defaultdict(list)
        for workload, site in placed:
            by_site[site].append(workload)
        for site, workloads in sorted(by_site.items()):
            hosts = {w: h.host for h in self.mco.result.hosts_in(Role.BARE_METAL, site)
                     for w in h.workloads}
            pool = PhysicalPool(f"{name}-{site}-metal", PhysicalPoolArgs(
                inventory=self.args.inventory, site=site,
                hosts=tuple(hosts[w] for w in workloads), shutdown_timeout=10),
                pulumi.ResourceOptions(parent=self))
            for index, workload in enumerate(workloads):
                serial = pool.serial_numbers.apply(partial(_serial, index))
                deployed.add(workload, site, "bare metal", f"host {hosts[workload]}",
                             made=DeployedObject(workload=workload, host_serial=serial), by=pool)
                endpoints[workload] = pool.hosts.apply(partial(_host_endpoint, site, index))
        return endpoints

    def containers(self, name: str, placed: list[tuple[str, str]],
                   deployed: Deployed) -> dict[str, Any]:
        """Clusters and Helm releases for caf workloads: see `tcra.blueprints.kubernetes`."""
        return declare(self, name, placed, deployed)

    def connectivity(self, name: str, deployed: Deployed) -> SRv6Chain | None:
        """The SRv6 chain through the placed workloads (`placed_chain`), steered to their pods
        once these run."""
        fabric = self.args.inventory.fabric
        if self.chain_made is None or fabric is None:
            return None
        pods = {w: self.releases[w].pod_addresses().apply(
            partial(_pod_address, w, fabric.hbr(self.chain_made.placement[w])))
            for w in self.chain_made.addresses}
        chain = SRv6Chain(f"{name}-chain", SRv6ChainArgs(fabric=fabric, chain=self.chain_made,
                                                         pods=pods),
                          pulumi.ResourceOptions(parent=self))
        deployed.ingress = self.chain_made.ingress
        deployed.chain = {w: str(chain.plan.sids[w]) for w in chain.plan.hops}
        return chain

    def placed_chain(self, name: str) -> Chain | None:
        """The chain's workloads where the plan put them: each behind the HBR that serves its
        site, at its pod's address on that HBR's pod network (a container workload the
        kubernetes block deploys), else at the fabric's endpoint for it there. Refused, naming
        the chain's field, before any block is declared."""
        intent, fabric = self.args.chain, self.args.inventory.fabric
        if intent is None or fabric is None:
            return None
        kind = self.kind.rsplit(":", 1)[-1]
        sites = {a.workload: a.site for a in self.mco.result.assignments}
        unplaced = {u.workload: u.reason for u in self.mco.result.unplaced}
        served = sorted(h.site for h in fabric.hbrs if h.site)
        problems: list[Problem] = []
        ingress_site = intent.ingress or self.default_ingress()
        ingress = fabric.serving(ingress_site)
        if ingress is None:
            problems.append(Problem(kind, "chain.ingress", "expected a site an HBR of the"
                                    f" fabric serves ({', '.join(served) or 'none'})",
                                    ingress_site))
        placement: dict[str, str] = {}
        addresses: dict[str, None] = {}
        for field, workload in [*((f"chain.functions.{i}", w)
                                  for i, w in enumerate(intent.functions)),
                                ("chain.egress", intent.egress)]:
            site = sites.get(workload)
            hbr = fabric.serving(site) if site else None
            if site is None and workload in unplaced:
                problems.append(Problem(kind, field, f"expected a workload the plan placed;"
                                        f" this one is not placed: {unplaced[workload]}",
                                        workload))
            elif site is None:
                problems.append(Problem(kind, field, "expected a workload the plan placed"
                                        f" ({', '.join(sorted(sites))})", workload))
            elif hbr is None:
                problems.append(Problem(kind, field, f"placed at site {site}, which no HBR"
                                        " of the fabric serves; expected one of"
                                        f" {', '.join(served) or 'none'}", workload))
            elif self._in_pod(workload) and hbr.pods is not None:
                placement[workload], addresses[workload] = hbr.name, None  # known at up
            elif fabric.endpoint(workload, hbr.name) is None:
                pods = " or a pod network there" if self._in_pod(workload) else ""
                problems.append(Problem(kind, field, f"placed at site {site}: expected an"
                                        f" endpoint of it behind HBR {hbr.name} in the"
                                        f" fabric{pods}", workload))
            else:
                placement[workload] = hbr.name
        if problems:
            raise InvalidInputError(problems)
        assert ingress is not None  # noqa: S101 - a problem otherwise
        chain = Chain(name=f"{name}-chain", ingress=ingress.name, destination=intent.destination,
                      functions=intent.functions, egress=intent.egress, placement=placement,
                      addresses=addresses)
        check(fabric, chain)  # the route computation's own refusals, before any block too
        return chain

    def record(self, deployed: Deployed,
               chain: SRv6Chain | None) -> WorkloadInventory | None:
        """The service's workload inventory (with a store): what each block made, and the
        SIDs the chain programmed, written once all of it exists (MultiCloudOrchestrator)."""
        objects = dict(deployed.objects)
        for workload, sid in (chain.plan.sids if chain else {}).items():
            objects[workload] = objects.get(workload, DeployedObject(
                workload=workload)).model_copy(update={"sid": str(sid)})
        return self.mco.record(list(objects.values()),
                               [*deployed.makers, *([chain] if chain else [])])

    def default_ingress(self) -> str:
        raise InvalidInputError([Problem(self.kind, "chain.ingress", "expected the site where"
                                         " users attach", has_value=False)])

    def _in_pod(self, workload: str) -> bool:
        """Whether the kubernetes block deploys the workload as a pod."""
        return self.args.blocks.kubernetes and self.entries[workload].form is WorkloadKind.CAF

    def why_not(self, form: WorkloadKind) -> str:
        block = {WorkloadKind.VAF: "virtual_machines", WorkloadKind.PAF: "bare_metal",
                 WorkloadKind.CAF: "kubernetes"}[form]
        return f"placed, not deployed: blocks.{block} is off"


def _vm_endpoint(site: str, host: str, live: list[Any]) -> dict[str, Any]:
    return {"site": site, "form": "vm", "host": host, "state": live[0],
            "addresses": live[1] or []}


def _pod_address(workload: str, hbr: Hbr, addresses: list[str]) -> str:
    """The workload's pod address on the HBR's pod network."""
    assert hbr.pods is not None  # noqa: S101 - placed_chain chose this HBR for it
    inside = [a for a in addresses if ":" in a and IPv6Address(a) in hbr.pods.prefix]
    if not inside:
        raise pulumi.RunError(f"{workload}: its pod has no address in HBR {hbr.name}'s pod"
                              f" network {hbr.pods.prefix} (it has {', '.join(addresses)})")
    return inside[0]


def _serial(index: int, serials: list[str]) -> str | None:
    return serials[index] or None  # "": the BMC reports none


def _host_endpoint(site: str, index: int, hosts: list[str]) -> dict[str, Any]:
    return {"site": site, "form": "bare metal", "host": hosts[index]}


__all__ = ["Blocks", "Blueprint", "BlueprintArgs", "CatalogEntry", "ChainIntent",
           "VmPlatform", "site_problem"]

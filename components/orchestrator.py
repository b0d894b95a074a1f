"""MultiCloudOrchestrator: run the MCO at program time and hand its plan to the other blocks.

A plan entry is plain data (site, cluster action, host roles), so components that land later
consume it without this one changing. With a store, current placements and hosts make the plan
sticky and other services' use is not offered, nor, with `live`, what the peers report in use
beyond the records (read at program time, preview included). The program writes nothing:
`record` declares the service's WorkloadInventory, which the engine writes at `up` once what
it names exists, and removes at `destroy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pydantic import Field
from tcra.providers.workload_inventory import (
    DeployedObject,
    WorkloadInventory,
    WorkloadInventoryArgs,
)

from tcra.act.stack import measured_for
from tcra.errors import TcraError
from tcra.mco.hosts import place_on_hosts
from tcra.mco.live import read
from tcra.mco.model import ClusterState, Policy, ServiceRequest, Usage
from tcra.mco.plan import Plan
from tcra.mco.store import Store
from tcra.model import Inventory
from tcra.model.base import Model


class InfeasibleRequestError(TcraError):
    """Some workloads have no site; the message lists why, one line each."""


class MultiCloudOrchestratorArgs(Model):
    inventory: Inventory
    request: ServiceRequest
    policy: Policy = Policy()
    clusters: tuple[ClusterState, ...] = ()
    store_url: str | None = Field(default=None, description="TCRR/TCWI database; none: no"
                                  " history, every run places from scratch.")
    allow_partial: bool = Field(default=False,
                                description="Deploy what fits instead of failing the run.")
    new_clusters: bool = Field(default=True, description="The Kubernetes block can make"
                               " clusters; without, container workloads go only to sites"
                               " with one.")
    live: bool = Field(default=True, description="With a store: offer only what the live"
                       " peers leave (Redfish power, libvirt free memory and hugepages,"
                       " Kubernetes requests); a peer that does not answer fails the run."
                       " Without a store nothing tells this service's own hosts, VMs and pods"
                       " from others', so the inventory alone is used.")


class MultiCloudOrchestrator(pulumi.ComponentResource):
    """Outputs: `plan` (the whole plan as data), `sites` (workload -> site), `unplaced`."""

    plan: pulumi.Output[dict[str, Any]]
    sites: pulumi.Output[dict[str, str]]
    unplaced: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MultiCloudOrchestratorArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tcra:mco:MultiCloudOrchestrator", name, None, opts)
        self._name, self._args = name, args
        store = Store(args.store_url) if args.store_url else None
        if store:
            store.migrate()
        taken = store.usage() if store else Usage()
        self.result: Plan = place_on_hosts(
            args.request, args.policy, args.inventory, clusters=args.clusters,
            running=taken.of(args.request.name), taken=taken, new_clusters=args.new_clusters,
            live=read(args.inventory) if store and args.live else None,
            measured=measured_for(args.request.name))
        if self.result.unplaced and not args.allow_partial:
            raise InfeasibleRequestError("\n".join(
                f"cannot place {u.workload}: {u.reason}" for u in self.result.unplaced))
        self.plan = pulumi.Output.from_input(self.result.model_dump(mode="json"))
        self.sites = pulumi.Output.from_input(
            {a.workload: a.site for a in self.result.assignments})
        self.unplaced = pulumi.Output.from_input([u.workload for u in self.result.unplaced])
        self.register_outputs({"plan": self.plan, "sites": self.sites,
                               "unplaced": self.unplaced})

    def record(self, deployed: Sequence[DeployedObject] = (),
               after: Sequence[pulumi.Resource] = ()) -> WorkloadInventory | None:
        """Declare the service's record in the workload inventory: the plan's placements and
        hosts, and `deployed`, what the program made for them. It is written once `after`
        (the resources that made them) and the Outputs in `deployed` exist, so a preview or a
        failed `up` writes nothing. Call it once, after the blocks; none without a store."""
        if not self._args.store_url:
            return None
        return WorkloadInventory(f"{self._name}-inventory", WorkloadInventoryArgs(
            store_url=self._args.store_url, service=self.result.service,
            tenant=self.result.tenant, placements=self.result.placements(self._args.request),
            hosts=self.result.hosts, deployed=tuple(deployed)),
            pulumi.ResourceOptions(parent=self, depends_on=list(after)))

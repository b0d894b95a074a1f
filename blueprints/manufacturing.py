"""The TCRA's manufacturing blueprint: OT workloads next to each factory's lines (private
edge), a far edge near them where users attach, the rest wherever policy says. The MCO and
the WDM are essential; PIM and VIP optional; the TCM a static chain; no federation."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field
from tcra.blueprints.base import (
    Blocks,
    Blueprint,
    BlueprintArgs,
    CatalogEntry,
    ChainIntent,
    VmPlatform,
    site_problem,
)
from tcra.blueprints.kubernetes import ClusterTemplate
from tcra.blueprints.stack_config import Secret

from tcra.errors import InvalidInputError
from tcra.inventory import load as load_inventory
from tcra.mcm.chart import Chart
from tcra.mco.model import (
    LatencyBudget,
    Policy,
    Resources,
    ServiceRequest,
    WorkloadKind,
    WorkloadPair,
)
from tcra.model import Quantity
from tcra.model.base import Model
from tcra.model.types import Name

CHARTS = Path(__file__).parent / "charts"  # charts shipped with the blueprints
CATALOG = (
    CatalogEntry(name="mqtt-broker", form=WorkloadKind.CAF, max_latency_ms=5,
                 resources=Resources(cpu=2, memory=Quantity("4Gi")),
                 chart=Chart(chart="emqx", version="5.8.6",
                             repository="https://repos.emqx.io/charts"),
                 description="Message broker for the lines' sensors and PLC gateways."),
    CatalogEntry(name="opcua-gateway", form=WorkloadKind.CAF, max_latency_ms=2,
                 resources=Resources(cpu=1, memory=Quantity("1Gi"), ptp=True),
                 chart=Chart(chart=str(CHARTS / "opcua-gateway"), version="0.1.0"),
                 description="Reads the PLCs over OPC UA, publishes to the broker; PTP time."),
    CatalogEntry(name="historian-db", form=WorkloadKind.VAF, max_latency_ms=40, per_site=False,
                 resources=Resources(cpu=4, memory=Quantity("16Gi")),
                 description="Time-series database of every factory, in a VM."),
    CatalogEntry(name="visual-inspection", form=WorkloadKind.PAF, max_latency_ms=10,
                 resources=Resources(cpu=8, memory=Quantity("32Gi"), gpus=1),
                 description="Camera inference on the line, on a GPU host."),
)


class ManufacturingArgs(BlueprintArgs):
    factory_sites: tuple[Name, ...] = Field(min_length=1, description="The plants' edge sites.")
    far_edge_site: Name | None = Field(default=None, description="Where users attach (the"
                                       " chain's ingress).")
    catalog: tuple[CatalogEntry, ...] = Field(default=CATALOG, min_length=1)


class ManufacturingBlueprint(Blueprint):
    kind = "tcra:blueprint:ManufacturingBlueprint"
    args: ManufacturingArgs

    def __init__(self, name: str, args: ManufacturingArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        problems = [p for field, value in [
            *((f"factory_sites.{i}", s) for i, s in enumerate(args.factory_sites)),
            *((("far_edge_site", args.far_edge_site),) if args.far_edge_site else ())]
            if (p := site_problem("ManufacturingBlueprint", field, value, args.inventory))]
        if problems:
            raise InvalidInputError(problems)
        super().__init__(name, args, opts)

    def request(self, name: str, args: BlueprintArgs) -> ServiceRequest:
        assert isinstance(args, ManufacturingArgs)  # noqa: S101 - this blueprint's own args
        sites = {s: args.inventory.site(s) for s in args.factory_sites}
        workloads, affinity = [], []
        for entry in args.catalog:
            if not entry.per_site:
                workloads.append(self.workload(entry, entry.name, self._budget(entry, sites)))
                continue
            for site_id, site in sites.items():
                workload = self.workload(entry, f"{entry.name}-{site_id}",
                                         self._budget(entry, {site_id: site}))
                # OT data stays in the plant's country
                workloads.append(workload.model_copy(update={
                    "jurisdictions": (site.jurisdiction,)}))
        names = {w.name for w in workloads}
        for site_id in sites:  # the gateway publishes to its plant's broker: same site
            pair = (f"opcua-gateway-{site_id}", f"mqtt-broker-{site_id}")
            if set(pair) <= names:
                affinity.append(WorkloadPair(first=pair[0], second=pair[1]))
        return ServiceRequest(name=name, tenant=args.policy.tenant,
                              areas={s: site.location for s, site in sites.items()},
                              workloads=tuple(workloads), affinity=tuple(affinity))

    @staticmethod
    def _budget(entry: CatalogEntry, areas: Iterable[str]) -> tuple[LatencyBudget, ...]:
        if entry.max_latency_ms is None:
            return ()
        return tuple(LatencyBudget(area=a, max_ms=entry.max_latency_ms) for a in areas)

    def default_ingress(self) -> str:
        return self.args.far_edge_site or self.args.factory_sites[0]


class ManufacturingStack(Model):
    """A stack's configuration for this blueprint (Pulumi.<stack>.yaml, key by key)."""

    inventory: Path = Field(description="The Ansible inventory of the sites.")
    factory_sites: tuple[Name, ...] = Field(min_length=1)
    far_edge_site: Name | None = None
    catalog: tuple[CatalogEntry, ...] = CATALOG
    blocks: Blocks = Blocks()
    policy: Policy = Policy()
    vm_platform: VmPlatform | None = None
    chain: ChainIntent | None = None
    store_url: str | None = None
    live: bool = True
    allow_partial: bool = False
    kubernetes: ClusterTemplate | None = None
    management_kubeconfig: Secret | None = Field(default=None, description="The management"
                                                 " cluster's kubeconfig (set it as a secret).")

    def blueprint_args(self) -> ManufacturingArgs:
        management = None
        if self.management_kubeconfig is not None:
            management = k8s.Provider("management", kubeconfig=self.management_kubeconfig)
        return ManufacturingArgs(
            inventory=load_inventory(self.inventory), management=management,
            **self.model_dump(exclude={"inventory", "management_kubeconfig"}, round_trip=True))


__all__ = ["CATALOG", "ManufacturingArgs", "ManufacturingBlueprint", "ManufacturingStack"]

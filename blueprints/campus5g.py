"""A private 5G campus: the UPF and a firewall as VMs near the campus, the application in
containers, and users' traffic steered UPF -> firewall -> application by an SRv6 chain.
Smaller than manufacturing, on the same machinery: the API is not tied to one vertical."""

from __future__ import annotations

import pulumi
from pydantic import Field
from tcra.blueprints.base import (
    Blueprint,
    BlueprintArgs,
    CatalogEntry,
    ChainIntent,
    site_problem,
)
from tcra.blueprints.stack import BlueprintStack

from tcra.errors import InvalidInputError
from tcra.mcm.chart import Chart
from tcra.mco.model import LatencyBudget, Resources, ServiceRequest, WorkloadKind
from tcra.model import Quantity
from tcra.model.types import Name

CATALOG = (
    CatalogEntry(name="upf", form=WorkloadKind.VAF, max_latency_ms=2,
                 resources=Resources(cpu=4, memory=Quantity("8Gi"), hugepages=Quantity("8Gi"),
                                     sriov_vfs=2, dedicated_cpus=True, single_numa_node=True),
                 description="5G user plane function: GTP-U in, IPv6 out, on hugepages."),
    CatalogEntry(name="fw", form=WorkloadKind.VAF, max_latency_ms=5,
                 resources=Resources(cpu=2, memory=Quantity("4Gi")),
                 description="Stateful firewall between the radio side and the application."),
    CatalogEntry(name="app", form=WorkloadKind.CAF, max_latency_ms=20,
                 resources=Resources(cpu=2, memory=Quantity("4Gi")),
                 chart=Chart(chart="oci://registry-1.docker.io/bitnamicharts/nginx",
                             version="18.2.4"),
                 description="The campus application users reach."),
)


class Campus5gArgs(BlueprintArgs):
    campus_site: Name = Field(description="Where the radios are: the chain's ingress.")
    catalog: tuple[CatalogEntry, ...] = Field(default=CATALOG, min_length=1)
    service_prefix: str | None = Field(default=None, description="The application's service"
                                       " prefix; with it, the chain upf -> fw -> app.")


class Campus5gBlueprint(Blueprint):
    kind = "tcra:blueprint:Campus5gBlueprint"
    args: Campus5gArgs

    def __init__(self, name: str, args: Campus5gArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if problem := site_problem("Campus5gBlueprint", "campus_site", args.campus_site,
                                   args.inventory):
            raise InvalidInputError([problem])
        if args.service_prefix and args.chain is None:
            args = args.model_copy(update={"chain": ChainIntent(
                destination=args.service_prefix, functions=("upf", "fw"), egress="app",
                ingress=args.campus_site)})
        super().__init__(name, args, opts)

    def request(self, name: str, args: BlueprintArgs) -> ServiceRequest:
        assert isinstance(args, Campus5gArgs)  # noqa: S101 - this blueprint's own args
        campus = args.inventory.site(args.campus_site)
        workloads = tuple(
            self.workload(entry, entry.name, (LatencyBudget(area="campus",
                                                            max_ms=entry.max_latency_ms),)
                          if entry.max_latency_ms else ())
            for entry in args.catalog)
        return ServiceRequest(name=name, tenant=args.policy.tenant,
                              areas={"campus": campus.location}, workloads=workloads,
                              chain=tuple(e.name for e in args.catalog))


class Campus5gStack(BlueprintStack):
    """A stack's configuration for this blueprint (Pulumi.<stack>.yaml, key by key)."""

    campus_site: Name
    catalog: tuple[CatalogEntry, ...] = CATALOG
    service_prefix: str | None = None

    def blueprint_args(self) -> Campus5gArgs:
        return self._args(Campus5gArgs)


__all__ = ["CATALOG", "Campus5gArgs", "Campus5gBlueprint", "Campus5gStack"]

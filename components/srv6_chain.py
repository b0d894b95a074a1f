"""SRv6Chain: a service chain through host-based routers, as one route set per HBR."""

from __future__ import annotations

import pulumi
from tcra.providers.srv6_routes import HbrRoutes, HbrRoutesSpec

from tcra.model.base import Model
from tcra.model.fabric import Chain, Fabric
from tcra.tcm.compute import ChainPlan, compute
from tcra.tcm.diagram import mermaid


class SRv6ChainArgs(Model):
    fabric: Fabric
    chain: Chain


class SRv6Chain(pulumi.ComponentResource):
    """Outputs: `segments` (SIDs in travel order), `sids` (workload -> SID), `path` (one line),
    `diagram` (Mermaid)."""

    segments: pulumi.Output[list[str]]
    sids: pulumi.Output[dict[str, str]]
    path: pulumi.Output[str]
    diagram: pulumi.Output[str]

    def __init__(self, name: str, args: SRv6ChainArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tcra:tcm:SRv6Chain", name, None, opts)
        self.plan: ChainPlan = compute(args.fabric, args.chain)  # bad input fails here
        for config in self.plan.hbrs:
            HbrRoutes(f"{name}-{config.hbr}", HbrRoutesSpec(
                chain=args.chain.name, hbr=config.hbr, namespace=config.namespace,
                interfaces=config.interfaces, routes=config.routes),
                pulumi.ResourceOptions(parent=self))
        self.segments = pulumi.Output.from_input([str(s) for s in self.plan.segments])
        self.sids = pulumi.Output.from_input({w: str(s) for w, s in self.plan.sids.items()})
        self.path = pulumi.Output.from_input(describe(args.chain, self.plan))
        self.diagram = pulumi.Output.from_input(mermaid(args.fabric, args.chain, self.plan))
        self.register_outputs({"segments": self.segments, "sids": self.sids, "path": self.path,
                               "diagram": self.diagram})


def describe(chain: Chain, plan: ChainPlan) -> str:
    """One line a person reads: users -> ingress HBR -> function @ HBR (SID) -> ... -> egress."""
    hops = [f"{w} @ {plan.placement[w]} ({plan.sids[w]})" for w in plan.hops]
    return " -> ".join([f"users {chain.source or 'any'} to {chain.destination}",
                        f"{chain.ingress} (H.Encaps)", *hops])

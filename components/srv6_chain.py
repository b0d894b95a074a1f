"""SRv6Chain: a service chain through host-based routers, as one route set per HBR."""

from __future__ import annotations

from functools import partial
from typing import Any

import pulumi
from pydantic import ConfigDict, Field
from tcra.providers.srv6_routes import HbrRoutes, HbrTarget

from tcra.errors import InvalidInputError
from tcra.model.base import Model
from tcra.model.fabric import Chain, Fabric
from tcra.tcm.compute import ChainPlan, Steering, compute, steer
from tcra.tcm.diagram import mermaid
from tcra.tcm.route import Route


class SRv6ChainArgs(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    fabric: Fabric
    chain: Chain
    pods: dict[str, Any] = Field(default_factory=dict, description="Workload -> its pod's"
                                 " address (str or Output[str]), for the workloads"
                                 " `chain.addresses` names: the routes to them wait for it.")


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
        self.plan: Steering = steer(args.fabric, args.chain)  # bad input fails here
        planned = pulumi.Output.from_input(args.pods).apply(partial(_plan, args.fabric, args.chain))
        for hbr in (args.fabric.hbr(h) for h in self.plan.routers):
            HbrRoutes(f"{name}-{hbr.name}", HbrTarget(
                chain=args.chain.name, hbr=hbr.name, namespace=hbr.namespace,
                interfaces=hbr.interfaces), planned.apply(partial(_routes, hbr.name)),
                pulumi.ResourceOptions(parent=self))
        self.segments = pulumi.Output.from_input([str(s) for s in self.plan.segments])
        self.sids = pulumi.Output.from_input({w: str(s) for w, s in self.plan.sids.items()})
        self.path = pulumi.Output.from_input(describe(args.chain, self.plan))
        self.diagram = pulumi.Output.from_input(mermaid(args.fabric, args.chain, self.plan))
        self.register_outputs({"segments": self.segments, "sids": self.sids, "path": self.path,
                               "diagram": self.diagram})


def _plan(fabric: Fabric, chain: Chain, pods: dict[str, str]) -> ChainPlan:
    """The routes once the pods' addresses are known; a wrong one fails the update in one
    line, naming it."""
    try:
        given = chain.model_dump(mode="json")
        return compute(fabric, Chain.model_validate(
            {**given, "addresses": {**given["addresses"], **pods}}))
    except InvalidInputError as exc:
        raise pulumi.RunError(str(exc)) from None


def _routes(hbr: str, plan: ChainPlan) -> tuple[Route, ...]:
    return next(c.routes for c in plan.hbrs if c.hbr == hbr)


def describe(chain: Chain, plan: Steering) -> str:
    """One line a person reads: users -> ingress HBR -> function @ HBR (SID) -> ... -> egress."""
    hops = [f"{w} @ {plan.placement[w]} ({plan.sids[w]})" for w in plan.hops]
    return " -> ".join([f"users {chain.source or 'any'} to {chain.destination}",
                        f"{chain.ingress} (H.Encaps)", *hops])

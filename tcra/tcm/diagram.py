"""The path of a chain as a Mermaid flowchart: users, the ingress HBR, each function with its
SID and HBR, the egress. Docs and stack outputs show it; GitHub and most viewers render it."""

from __future__ import annotations

import itertools

from tcra.model.fabric import Chain, Fabric
from tcra.tcm.compute import Steering


def mermaid(fabric: Fabric, chain: Chain, plan: Steering) -> str:
    source = f" from {chain.source}" if chain.source else ""
    lines = ["flowchart LR", f'  users(["users{source} to {chain.destination}"])']
    hbrs = set(plan.placement.values()) | {chain.ingress}
    for hbr in sorted(hbrs):
        lines.append(f"  subgraph {hbr}[HBR {hbr} · locator {fabric.hbr(hbr).locator}]")
        if hbr == chain.ingress:
            lines.append(f"    ingress[H.Encaps: {len(plan.segments)} segments]")
        for w in plan.hops:
            if plan.placement[w] == hbr:
                behaviour = "End.DX6" if w == chain.egress else "End.X"
                lines.append(f'    {w}["{w}<br/>{behaviour} {plan.sids[w]}"]')
        lines.append("  end")
    steps = ["users", "ingress", *plan.hops]
    lines += [f"  {a} --> {b}" for a, b in itertools.pairwise(steps)]
    return "\n".join(lines)

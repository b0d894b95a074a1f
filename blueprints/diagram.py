"""A picture of what a blueprint deployed: sites as boxes, workloads in them by form, the
chain as arrows from users through the workloads it crosses. Graphviz DOT, rendered to SVG by
`dot` (scripts/deploy-lab does)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from tcra.providers.workload_inventory import DeployedObject

from tcra.mco.plan import Plan

_STYLE = {"vm": "lightblue", "bare metal": "khaki", "kubernetes": "palegreen"}


@dataclass
class Deployed:
    """Filled in while a blueprint declares its resources: the picture's nodes, and for the
    workload inventory what was made for each workload and by which resources."""

    plan: Plan
    nodes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    ingress: str | None = None
    """The HBR where users attach, with a chain."""
    chain: dict[str, str] = field(default_factory=dict)
    """The chain's workloads in travel order, each with its SID."""
    not_deployed: dict[str, str] = field(default_factory=dict)
    objects: dict[str, DeployedObject] = field(default_factory=dict)
    makers: list[pulumi.Resource] = field(default_factory=list)

    def add(self, workload: str, site: str, form: str, detail: str, *,
            made: DeployedObject, by: pulumi.Resource) -> None:
        self.nodes[workload] = (site, form, detail)
        self.objects[workload] = made
        self.makers.append(by)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def graphviz(name: str, deployed: Deployed) -> str:
    lines = [f"digraph {_quote(name)} {{", "  rankdir=LR; compound=true;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    sites = sorted({a.site for a in deployed.plan.assignments} | {s for s, _, _ in
                                                                   deployed.nodes.values()})
    for index, site in enumerate(sites):
        lines.append(f"  subgraph cluster_{index} {{ label={_quote('site ' + site)};"
                     " style=rounded;")
        for assignment in deployed.plan.assignments:
            if assignment.site != site:
                continue
            workload = assignment.workload
            if workload in deployed.nodes:
                _, form, detail = deployed.nodes[workload]
                label, colour = f"{workload}\n{form}: {detail}", _STYLE.get(form, "white")
            else:
                reason = deployed.not_deployed.get(workload, "placed")
                label, colour = f"{workload}\n{reason}", "white"
            lines.append(f"    {_quote(workload)} [label={_quote(label)},"
                         f" fillcolor={colour}];")
        lines.append("  }")
    if deployed.chain:  # through the workloads' own nodes, where the plan put them
        ingress = f"HBR {deployed.ingress}"
        lines.append('  users [shape=ellipse, fillcolor=white, label="users"];')
        lines.append(f"  {_quote(ingress)} [shape=cds, fillcolor=orange];")
        lines.append(f'  users -> {_quote(ingress)} [label="H.Encaps"];')
        previous = ingress
        for workload, sid in deployed.chain.items():
            lines.append(f"  {_quote(previous)} -> {_quote(workload)}"
                         f" [label={_quote('SID ' + sid)}, color=orange];")
            previous = workload
    lines.append("}")
    return "\n".join(lines) + "\n"

"""A plan as tables a network engineer reads: placements, cluster actions, what failed."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tcra.mco.plan import Plan


def render(plan: Plan, console: Console, explain: bool = False) -> None:
    table = Table(title=f"placement of {plan.service} (tenant {plan.tenant})")
    for column in ("workload", "site", "latency ms", "EUR/h", "gCO2/h", "score", "runner-up",
                   "moved"):
        table.add_column(column)
    for a in plan.assignments:
        latency = ", ".join(f"{area} {ms:g}" for area, ms in a.latency_ms.items()) or "-"
        runner = f"{a.runner_up} ({a.runner_up_score:g})" if a.runner_up else "-"
        moved = f"from {a.moved_from}: {a.move_reason}" if a.moved_from else ""
        table.add_row(a.workload, a.site, latency, f"{a.cost_per_hour:.4f}",
                      f"{a.carbon_per_hour:.1f}", f"{a.score:.4f}", runner, moved)
    console.print(table)
    actions = Table(title="cluster actions")
    for column in ("site", "kind", "action", "cluster", "nodes", "workloads"):
        actions.add_column(column)
    for act in plan.actions:
        actions.add_row(act.site, act.kind.value, act.action.value, act.cluster or "-",
                        str(act.nodes), ", ".join(act.workloads))
    console.print(actions)
    console.print(f"total: {plan.cost_per_hour:.4f} EUR/h, {plan.carbon_per_hour:.1f} gCO2/h,"
                  f" objective {plan.objective:.4f}")
    if plan.deferred:
        console.print(f"deferred (not placed now): {', '.join(plan.deferred)}")
    for u in plan.unplaced:
        console.print(f"[red]cannot place {u.workload}[/red]: {u.reason}", highlight=False)
    if explain:
        for a in plan.assignments:
            for r in a.rejected:
                console.print(f"{a.workload}: {r.site} rejected: {r.reason}", highlight=False)

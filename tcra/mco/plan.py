"""The MCO's answer: where each workload goes, what happens to clusters, and why."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tcra.mco.model import HostRole, Placement, Role, ServiceRequest, WorkloadKind
from tcra.model.base import Model


class ClusterAction(StrEnum):
    REUSE = "reuse"
    SCALE = "scale"
    CREATE = "create"
    CLAIM_HOSTS = "claim-hosts"


class Rejection(Model):
    site: str
    reason: str


class Assignment(Model):
    workload: str
    site: str
    score: float
    latency_ms: dict[str, float] = Field(default_factory=dict)
    cost_per_hour: float = Field(description="EUR per hour: power x PUE x price.")
    carbon_per_hour: float = Field(description="gCO2 per hour: power x PUE x intensity.")
    runner_up: str | None = None
    runner_up_score: float | None = None
    moved_from: str | None = None
    move_reason: str | None = None
    rejected: tuple[Rejection, ...] = ()


class SiteAction(Model):
    site: str
    kind: WorkloadKind
    action: ClusterAction
    cluster: str | None = Field(default=None, description="Existing cluster, or the new name.")
    nodes: int = Field(default=0, description="Nodes to add (scale) or create; hosts to claim.")
    workloads: tuple[str, ...] = ()


class Unplaced(Model):
    workload: str
    reason: str


class Plan(Model):
    service: str
    tenant: str
    assignments: tuple[Assignment, ...] = ()
    actions: tuple[SiteAction, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    hosts: tuple[HostRole, ...] = Field(default=(), description="Per site, which host serves"
                                        " as what (placed on an inventory; none otherwise).")
    deferred: tuple[str, ...] = ()
    objective: float = 0.0
    cost_per_hour: float = 0.0
    carbon_per_hour: float = 0.0

    @property
    def feasible(self) -> bool:
        return not self.unplaced

    def hosts_in(self, role: Role, site: str) -> tuple[HostRole, ...]:
        return tuple(h for h in self.hosts if h.role is role and h.site == site)

    def placements(self, request: ServiceRequest | None = None) -> tuple[Placement, ...]:
        """What the store holds of this plan, per placed workload. Its cluster is the one the
        action at its site that lists it names (reuse, scale or create); none for claimed
        hosts. Each carries the plan's cost and carbon estimates; with the `request`, its kind
        and resources (what other services' free capacity is less by) and its latency
        budgets (what sensing holds it to)."""
        clusters = {(action.site, workload): action.cluster for action in self.actions
                    if action.cluster for workload in action.workloads}
        wanted_by = {w.name: w for w in request.workloads} if request else {}
        return tuple(Placement(service=self.service, workload=a.workload, site=a.site,
                               cluster=clusters.get((a.site, a.workload)),
                               cost_per_hour=a.cost_per_hour, carbon_per_hour=a.carbon_per_hour,
                               **({"kind": w.kind, "resources": w.resources,
                                   "latency": w.latency}
                                  if (w := wanted_by.get(a.workload)) else {}))
                     for a in self.assignments)

"""An action and its audit trail, as the agent records them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tcra.mco.model import MeasuredPath
from tcra.model.base import Model
from tcra.model.types import Name


class ActionState(StrEnum):
    PROPOSED = "proposed"      # a preview shows what would change; waits for a decision
    NO_REMEDY = "no-remedy"    # the MCO found nowhere better: nothing to approve
    APPROVED = "approved"      # being applied
    APPLIED = "applied"
    FAILED = "failed"          # the preview or the apply failed: see its events
    REFUSED = "refused"        # the preview changed since it was proposed: not applied
    REJECTED = "rejected"


OPEN = (ActionState.PROPOSED, ActionState.APPROVED)
"""States in which an action still stands for its alert: a repeat of the alert adds none."""


class Measurement(Model):
    """What the probe read: the workload's users see `rtt_ms` to it at `site`. The MCO takes
    it as the round trip from the workload's users, and its chain's, to the site
    (`tcra.mco.repository.measured_path`)."""

    site: Name
    rtt_ms: float = Field(gt=0)


class Measured(MeasuredPath):
    """A measurement with its service and workload: what the stack's program is handed."""

    service: Name


class Action(Model):
    id: str = Field(pattern=r"^[0-9a-f]{12}$")
    created: float = Field(description="Seconds since the epoch.")
    alert: str = Field(max_length=100, description="The alert's name.")
    firing: str = Field(default="", max_length=110, description="The alert's fingerprint and"
                        " start: one action per firing.")
    service: Name
    workload: Name
    measurement: Measurement
    state: ActionState
    reason: str = Field(default="", description="The alert's summary, or why no remedy.")
    preview: tuple[str, ...] = Field(default=(), description="What `up` would do: one"
                                     " `op urn` line per step that changes something.")
    digest: str | None = Field(default=None, description="SHA-256 of the preview's steps.")


class ActionEvent(Model):
    """One line of the audit trail: who did what to an action, and when."""

    action: str
    at: float
    actor: str = Field(max_length=100)
    event: str = Field(max_length=32)
    detail: str = ""

"""From alert to action: a firing latency-budget alert becomes an action whose preview is the
stack with the MCO placing on the measured round trip; an approved action is previewed again
and applied only if the preview is the one that was approved."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from tcra.act import stack as pulumi_stack
from tcra.act.alerts import Alert, Notification
from tcra.act.model import Action, ActionState, Measurement
from tcra.act.stack import StackRef
from tcra.act.store import ActionStore

LATENCY_ALERT = "TcraLatencyBudgetExceeded"  # tcra.sense.rules; its rtt_ms annotation
AGENT = "agent"
POLICY = "policy:auto-approve"


class Agent:
    def __init__(self, store: ActionStore, stack: StackRef, auto_approve: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.stack, self.auto_approve, self.clock = store, stack, auto_approve, clock

    def receive(self, notification: Notification) -> list[Action]:
        """The actions this notification proposed (none for a resolved alert, an alert the
        agent has no remedy kind for, or one whose action still stands)."""
        made = []
        for alert in notification.alerts:
            measured = self._measurement(alert)
            if measured is None:
                continue
            action = self._proposal(alert, measured)
            if self.store.stands(action):
                continue
            recorded = self.store.propose(self._previewed(action), AGENT, self.clock())
            if recorded is None:  # another agent recorded one meanwhile
                continue
            action = recorded
            if self.auto_approve and action.state is ActionState.PROPOSED:
                action = self.approve(action.id, POLICY)
            made.append(action)
        return made

    def _measurement(self, alert: Alert) -> Measurement | None:
        if alert.status != "firing" or alert.labels.get("alertname") != LATENCY_ALERT:
            return None
        service, workload = alert.labels.get("service"), alert.labels.get("workload")
        try:
            rtt = float(alert.annotations.get("rtt_ms", ""))
        except ValueError:
            return None
        site = next((p.site for p in self.store.placements(service)
                     if p.workload == workload), None) if service else None
        return None if site is None or rtt <= 0 else Measurement(site=site, rtt_ms=rtt)

    def _proposal(self, alert: Alert, measured: Measurement) -> Action:
        return Action(id=secrets.token_hex(6), created=self.clock(),
                      alert=alert.labels["alertname"], firing=alert.firing,
                      service=alert.labels["service"], workload=alert.labels["workload"],
                      measurement=measured, state=ActionState.PROPOSED,
                      reason=alert.annotations.get("summary", ""))

    def _previewed(self, action: Action) -> Action:
        """The action with the preview of what applying it changes, or why there is no
        remedy."""
        seen = pulumi_stack.preview(self.stack, action)
        if seen.error is not None:  # the MCO's InfeasibleRequestError, or the stack broken
            infeasible = any(line.lstrip().startswith("cannot place ")
                             for line in seen.error.splitlines())
            return action.model_copy(update={
                "state": ActionState.NO_REMEDY if infeasible else ActionState.FAILED,
                "reason": seen.error})
        if not seen.steps:
            return action.model_copy(update={"state": ActionState.NO_REMEDY,
                                             "reason": "nothing would change: the MCO"
                                                       " keeps every workload where it is (or"
                                                       " the stack does not deploy service"
                                                       f" {action.service})"})
        if removed := [s for s in seen.steps if s.startswith("remove ")]:
            # a partial plan (allow_partial) drops what fits nowhere: never a remedy
            return action.model_copy(update={
                "state": ActionState.NO_REMEDY, "preview": seen.steps,
                "reason": "no site within budget: the plan would " + "; ".join(removed)})
        return action.model_copy(update={"preview": seen.steps, "digest": seen.digest})

    def approve(self, action_id: str, actor: str) -> Action:
        """Approve, preview again, and apply only the preview that was approved: a stack or a
        world that changed since (another up, capacity gone) refuses the action instead."""
        action = self.store.decide(action_id, "approve", (ActionState.PROPOSED,),
                                   ActionState.APPROVED, actor, self.clock())
        try:
            seen = pulumi_stack.preview(self.stack, action)
            if seen.error is not None or seen.digest != action.digest:
                why = seen.error or ("the preview differs from the approved one:\n"
                                     + "\n".join(_changes(action.preview, seen.steps)))
                return self.store.decide(action_id, "refuse", (ActionState.APPROVED,),
                                         ActionState.REFUSED, AGENT, self.clock(), why)
            failed = pulumi_stack.up(self.stack, action)
        except Exception as exc:  # pulumi missing, store gone: never left standing approved
            failed = f"{type(exc).__name__}: {exc}"
        if failed is not None:
            return self.store.decide(action_id, "fail", (ActionState.APPROVED,),
                                     ActionState.FAILED, AGENT, self.clock(), failed)
        return self.store.decide(action_id, "apply", (ActionState.APPROVED,),
                                 ActionState.APPLIED, AGENT, self.clock())


def _changes(approved: tuple[str, ...], now: tuple[str, ...]) -> list[str]:
    return ([f"- {s}" for s in approved if s not in now]
            + [f"+ {s}" for s in now if s not in approved])

"""Actions and their audit trail in the TCRR/TCWI database (migration 0011): the agent, the
command line and any number of operators share one record of what was proposed and decided."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Select, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tcra.act.model import OPEN, Action, ActionEvent, ActionState, Measurement
from tcra.errors import TcraError
from tcra.mco.store import Base, Store


class ActionRow(Base):
    __tablename__ = "mco_actions"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    created: Mapped[float]
    alert: Mapped[str] = mapped_column(String(100))
    firing: Mapped[str] = mapped_column(String(110), index=True)
    service: Mapped[str] = mapped_column(String(63))
    workload: Mapped[str] = mapped_column(String(63))
    site: Mapped[str] = mapped_column(String(63))
    rtt_ms: Mapped[float]
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    preview: Mapped[list[Any]] = mapped_column(JSON)
    digest: Mapped[str | None] = mapped_column(String(64))


class ActionEventRow(Base):
    __tablename__ = "mco_action_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(12), index=True)
    at: Mapped[float]
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)


class ActionStateError(TcraError):
    """The action is not in a state that allows the step (decided already, or unknown)."""

    def __init__(self, action: str, state: str | None, step: str) -> None:
        self.state = state
        now = "no such action" if state is None else f"it is {state}"
        super().__init__(f"action {action}: cannot {step}: {now}")


class ActionStore(Store):
    def propose(self, action: Action, actor: str, at: float) -> Action | None:
        """Record `action` unless this firing of its alert has one already, or one for the
        same alert, service and workload still stands (None then: Alertmanager repeats a
        firing alert at every group interval)."""
        with self._session() as session:
            if session.scalars(_standing(action)).first() is not None:
                return None
            session.add(ActionRow(
                id=action.id, created=action.created, alert=action.alert, firing=action.firing,
                service=action.service, workload=action.workload,
                site=action.measurement.site, rtt_ms=action.measurement.rtt_ms,
                state=str(action.state), reason=action.reason, preview=list(action.preview),
                digest=action.digest))
            _event(session, action.id, at, actor, str(action.state), action.reason)
        return action

    def stands(self, action: Action) -> bool:
        """Whether `propose` would pass `action` over (the agent asks before it previews)."""
        with self._session() as session:
            return session.scalars(_standing(action)).first() is not None

    def actions(self, state: ActionState | None = None) -> list[Action]:
        query = select(ActionRow).order_by(ActionRow.created)
        if state is not None:
            query = query.where(ActionRow.state == str(state))
        with self._session() as session:
            return [_action(row) for row in session.scalars(query)]

    def action(self, action_id: str) -> Action | None:
        with self._session() as session:
            row = session.get(ActionRow, action_id)
            return None if row is None else _action(row)

    def decide(self, action_id: str, step: str, allowed: tuple[ActionState, ...],
               to: ActionState, actor: str, at: float, detail: str = "") -> Action:
        """Move the action to `to` if it is in one of `allowed`, in one transaction with its
        audit line; otherwise ActionStateError naming the state it is in."""
        with self._session() as session:
            row = session.get(ActionRow, action_id, with_for_update=True)
            if row is None or ActionState(row.state) not in allowed:
                raise ActionStateError(action_id, None if row is None else row.state, step)
            row.state = str(to)
            _event(session, action_id, at, actor, str(to), detail)
            return _action(row)

    def reject(self, action_id: str, actor: str, at: float, why: str = "") -> Action:
        """Nothing is applied; only a proposed action can be rejected."""
        return self.decide(action_id, "reject", (ActionState.PROPOSED,), ActionState.REJECTED,
                           actor, at, why)

    def events(self, action_id: str) -> list[ActionEvent]:
        query = (select(ActionEventRow).where(ActionEventRow.action == action_id)
                 .order_by(ActionEventRow.id))
        with self._session() as session:
            return [ActionEvent(action=r.action, at=r.at, actor=r.actor, event=r.event,
                                detail=r.detail) for r in session.scalars(query)]


def _standing(action: Action) -> Select[str]:
    return select(ActionRow.id).where(
        ActionRow.alert == action.alert, ActionRow.service == action.service,
        ActionRow.workload == action.workload,
        ActionRow.state.in_([str(s) for s in OPEN])
        | ((ActionRow.firing == action.firing) & (ActionRow.firing != "")))


def _event(session: Session, action: str, at: float, actor: str, event: str,
           detail: str) -> None:
    session.add(ActionEventRow(action=action, at=at, actor=actor[:100], event=event,
                               detail=detail))


def _action(row: ActionRow) -> Action:
    return Action(id=row.id, created=row.created, alert=row.alert, firing=row.firing,
                  service=row.service,
                  workload=row.workload,
                  measurement=Measurement(site=row.site, rtt_ms=row.rtt_ms),
                  state=ActionState(row.state), reason=row.reason,
                  preview=tuple(row.preview), digest=row.digest)

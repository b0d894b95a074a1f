"""Where the API keeps what application providers submitted, beside the MCO's repository in
the same store (one database, one migration history), and the audit trail of every request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tcra.mco.store import Base, Store, StoreError


class AppRow(Base):
    """One submitted app manifest, its repository credentials apart (never returned)."""

    __tablename__ = "api_apps"
    __table_args__ = (UniqueConstraint("tenant", "name", "version"),)

    app_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(256), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    credentials: Mapped[str | None] = mapped_column(String(2048))


class AuditRow(Base):
    """One request: who, what, the answer's status, and the caller's correlator."""

    __tablename__ = "api_audit"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)  # since the epoch
    tenant: Mapped[str | None] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int]
    correlator: Mapped[str | None] = mapped_column(String(256))


class InstanceRow(Base):
    """One app instance: where the MCO put it, how its deployment goes, what answers.

    It keeps the app's manifest as it was when instantiated. `stack` is its Pulumi stack;
    `attempts` counts the deployments begun, so one a worker died in is resumed a bounded
    number of times, then failed."""

    __tablename__ = "api_instances"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(256), index=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str] = mapped_column(String(36))
    site: Mapped[str] = mapped_column(String(63))
    placement: Mapped[dict[str, Any]] = mapped_column(JSON)  # tcra.mco.model.Placement
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)   # the app's, when instantiated
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(2048))
    endpoints: Mapped[list[Any]] = mapped_column(JSON)
    sink: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    deployment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    stack: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int]
    changed_ms: Mapped[int] = mapped_column(BigInteger)


class DeploymentRow(Base):
    """One app deployment: the zones (and clusters) asked for, one instance at each zone.

    `deleting` once its removal is asked: it goes with its last instance."""

    __tablename__ = "api_deployments"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(256), index=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(64))
    zones: Mapped[list[str]] = mapped_column(JSON)
    cluster_refs: Mapped[list[str]] = mapped_column(JSON)
    sink: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    deleting: Mapped[bool]


class LeaseRow(Base):
    """Who holds a lease (the deploying server's workers) and until when."""

    __tablename__ = "api_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class DuplicateError(Exception):
    pass


def now_ms() -> int:
    """The time as the store's `*_ms` columns keep it: milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class ApiStore(Store):
    def add_app(self, app_id: str, tenant: str, manifest: dict[str, Any],
                credentials: str | None) -> None:
        """Raises DuplicateError when the tenant has the app's name and version already."""
        name, version = manifest["name"], manifest["version"]

        def write(session: Session) -> None:
            if session.scalar(select(AppRow.app_id).where(
                    AppRow.tenant == tenant, AppRow.name == name,
                    AppRow.version == version)) is not None:
                raise DuplicateError(name)
            session.add(AppRow(app_id=app_id, tenant=tenant, name=name, version=version,
                               manifest=manifest, credentials=credentials))
        self._unique(write, name)

    def apps(self, tenant: str) -> list[tuple[str, dict[str, Any]]]:
        with self._session() as session:
            rows = session.scalars(select(AppRow).where(AppRow.tenant == tenant)
                                   .order_by(AppRow.name, AppRow.version))
            return [(r.app_id, r.manifest) for r in rows]

    def app(self, tenant: str, app_id: str) -> dict[str, Any] | None:
        with self._session() as session:
            row = session.get(AppRow, app_id)
            return row.manifest if row is not None and row.tenant == tenant else None

    def delete_app(self, tenant: str, app_id: str) -> bool:
        with self._session() as session:
            row = session.get(AppRow, app_id)
            if row is None or row.tenant != tenant:
                return False
            session.delete(row)
            return True

    def add_instance(self, row: InstanceRow) -> None:
        """Raises DuplicateError when the tenant has an instance of that name already."""
        self._unique(lambda session: self._add_instances(session, [row]), row.name)

    def _add_instances(self, session: Session, rows: list[InstanceRow]) -> None:
        for row in rows:
            if session.scalar(select(InstanceRow.instance_id).where(
                    InstanceRow.tenant == row.tenant, InstanceRow.name == row.name)) is not None:
                raise DuplicateError(row.name)
            session.add(row)

    def _unique(self, write: Callable[[Session], None], name: str) -> None:
        """`write` in one transaction; DuplicateError when it breaks a unique name, found by
        `write` or, when two write at once, by the unique constraint."""
        try:
            with self._session() as session:
                write(session)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise DuplicateError(name) from None
            raise

    def add_deployment(self, row: DeploymentRow, instances: list[InstanceRow]) -> None:
        """The deployment with its instances, or nothing: DuplicateError when the tenant has a
        deployment (or an instance) of that name already."""
        def write(session: Session) -> None:
            self._check_name(session, row.tenant, row.name)
            session.add(row)
            self._add_instances(session, instances)
        self._unique(write, row.name)

    def change_deployment(self, deployment_id: str, name: str, zones: list[str],
                          cluster_refs: list[str], added: list[InstanceRow],
                          ending: list[str]) -> None:
        """A patch, in one transaction: renamed, new zones and clusters, instances `added`,
        and those `ending` set terminating."""
        def write(session: Session) -> None:
            row = session.get(DeploymentRow, deployment_id)
            assert row is not None, deployment_id  # noqa: S101 - the caller read it
            if name != row.name:
                self._check_name(session, row.tenant, name)
            row.name, row.zones, row.cluster_refs = name, zones, cluster_refs
            self._add_instances(session, added)
            self._end(session, ending)
        self._unique(write, name)

    @staticmethod
    def _check_name(session: Session, tenant: str, name: str) -> None:
        if session.scalar(select(DeploymentRow.deployment_id).where(
                DeploymentRow.tenant == tenant, DeploymentRow.name == name)) is not None:
            raise DuplicateError(name)

    def end(self, instance_ids: list[str]) -> None:
        """Their removal asked: terminating, with no reason and no attempt made yet."""
        with self._session() as session:
            self._end(session, instance_ids)

    @staticmethod
    def _end(session: Session, instance_ids: list[str]) -> None:
        for instance_id in instance_ids:
            instance = session.get(InstanceRow, instance_id)
            if instance is not None:
                instance.status, instance.reason, instance.attempts = "terminating", None, 0
                instance.changed_ms = now_ms()

    def deployments(self, tenant: str, app_id: str | None = None) -> list[DeploymentRow]:
        query = (select(DeploymentRow).where(DeploymentRow.tenant == tenant)
                 .order_by(DeploymentRow.name))
        if app_id is not None:
            query = query.where(DeploymentRow.app_id == app_id)
        with self._session() as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    def deployment(self, deployment_id: str, tenant: str | None = None
                   ) -> DeploymentRow | None:
        with self._session() as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None or tenant not in (None, row.tenant):
                return None
            session.expunge(row)
            return row

    def delete_deployment(self, deployment_id: str) -> list[str]:
        """Its removal asked: its instances terminating (their ids), the deployment gone now
        when it has none."""
        with self._session() as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None:
                return []
            ids = list(session.scalars(select(InstanceRow.instance_id).where(
                InstanceRow.deployment_id == deployment_id)))
            if ids:
                row.deleting = True
                self._end(session, ids)
            else:
                session.delete(row)
            return ids

    def instances(self, tenant: str | None = None, app_id: str | None = None,
                  statuses: tuple[str, ...] = (), deployment_id: str | None = None
                  ) -> list[InstanceRow]:
        """A tenant's instances (every tenant's: None), of one app, in some statuses, of one
        deployment."""
        query = select(InstanceRow).order_by(InstanceRow.name)
        if tenant is not None:
            query = query.where(InstanceRow.tenant == tenant)
        if app_id is not None:
            query = query.where(InstanceRow.app_id == app_id)
        if deployment_id is not None:
            query = query.where(InstanceRow.deployment_id == deployment_id)
        if statuses:
            query = query.where(InstanceRow.status.in_(statuses))
        with self._session() as session:
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    def instance(self, instance_id: str, tenant: str | None = None) -> InstanceRow | None:
        with self._session() as session:
            row = session.get(InstanceRow, instance_id)
            if row is None or tenant not in (None, row.tenant):
                return None
            session.expunge(row)
            return row

    def update_instance(self, instance_id: str, **changes: Any) -> InstanceRow | None:
        """Sets the fields given (status, reason, endpoints, attempts); None when gone."""
        with self._session() as session:
            row = session.get(InstanceRow, instance_id)
            if row is None:
                return None
            for key, value in changes.items():
                setattr(row, key, value)
            row.changed_ms = now_ms()
            session.flush()
            session.expunge(row)
            return row

    def remove_instance(self, instance_id: str) -> DeploymentRow | None:
        """The instance gone; its deployment too when this was the last instance of one whose
        removal was asked (returned)."""
        with self._session() as session:
            row = session.get(InstanceRow, instance_id)
            if row is None:
                return None
            session.delete(row)
            if row.deployment_id is None:
                return None
            deployment = session.get(DeploymentRow, row.deployment_id)
            if deployment is None or not deployment.deleting or session.scalar(
                    select(InstanceRow.instance_id).where(
                        InstanceRow.deployment_id == row.deployment_id,
                        InstanceRow.instance_id != instance_id)) is not None:
                return None
            session.delete(deployment)
            session.flush()
            session.expunge(deployment)
            return deployment

    def take_lease(self, name: str, holder: str, seconds: float, dead: str | None = None
                   ) -> LeaseRow:
        """The lease for `seconds` from now, when it is free, expired, `holder`'s own or the
        `dead` holder's; whoever holds it afterwards (another holder: not taken)."""
        now = now_ms()
        try:
            with self._session() as session:
                row = session.get(LeaseRow, name, with_for_update=True)
                if row is None:
                    row = LeaseRow(name=name, holder=holder, expires_ms=0)
                    session.add(row)
                if row.holder in (holder, dead) or row.expires_ms < now:
                    row.holder, row.expires_ms = holder, now + int(seconds * 1000)
                session.flush()
                session.expunge(row)
                return row
        except StoreError as exc:  # two took a free lease at once: the other has it
            if isinstance(exc.__cause__, IntegrityError):
                return self.take_lease(name, holder, seconds, dead)
            raise

    def release_lease(self, name: str, holder: str) -> None:
        with self._session() as session:
            row = session.get(LeaseRow, name)
            if row is not None and row.holder == holder:
                session.delete(row)

    def audited(self) -> list[AuditRow]:
        with self._session() as session:
            rows = list(session.scalars(select(AuditRow).order_by(AuditRow.id)))
            session.expunge_all()
            return rows

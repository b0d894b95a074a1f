"""Where the MCO keeps its resource repository (TCRR) and workload inventory (TCWI).

A SQLite file by default, PostgreSQL when several orchestrators share one inventory. The columns
the MCO looks things up by are real indexed columns; nested values are JSON, validated back into
the pydantic model on the way out. Each call opens and closes its own connection (design.md: no
live client between calls), so the only state a Store keeps is its SQLAlchemy Engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Connection,
    Row,
    Select,
    String,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from tcra.errors import InvalidInputError, TcraError, problems_from
from tcra.mco.model import (
    ClusterState,
    DeployedWorkload,
    HostRole,
    Placement,
    Repository,
    Running,
    ServiceRecord,
    ServiceRequest,
    SiteState,
    Usage,
)
from tcra.mco.plan import Plan
from tcra.model.base import Model
from tcra.ownership import OwnedElsewhereError
from tcra.state import state_home

VERSION_TABLE = "mco_alembic_version"
"""Alembic's bookkeeping table, named so a shared PostgreSQL database has room for others."""

CONNECT_TIMEOUT_S = 10
_MIGRATING = threading.Lock()
_EXPECTED = "expected sqlite:///<path> or postgresql+psycopg://<user>:<password>@<host>/<db>"

JsonObject = dict[str, Any]
M = TypeVar("M", bound=Model)


class StoreError(TcraError):
    """The database at `url` (password masked) failed; `cause` says how."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        super().__init__(f"MCO store {url}: {cause}")


class StoreUnreachableError(StoreError):
    """No connection could be opened: a wrong URL, a server down, a refused login."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(url, f"cannot connect: {cause}")


class SchemaNotMigratedError(StoreError):
    """The database's schema is not the one this tcra knows; nothing was read or written."""

    def __init__(self, url: str, revision: str | None, head: str) -> None:
        super().__init__(url, f"schema is at revision {revision or 'none'}, this tcra needs"
                              f" {head}; Store(url).migrate() upgrades an older one")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {JsonObject: JSON}


class SiteRow(Base):
    """A SiteState; the Site, its free Capacity and latencies are JSON."""

    __tablename__ = "mco_sites"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    position: Mapped[int]  # order in the saved repository
    site: Mapped[JsonObject]
    free: Mapped[JsonObject]
    largest_host_cpu: Mapped[float]
    ptp: Mapped[bool]
    hypervisor: Mapped[bool]
    latency_ms: Mapped[JsonObject]


class ClusterRow(Base):
    __tablename__ = "mco_clusters"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    site: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(8), index=True)
    position: Mapped[int]  # order in the saved repository
    free: Mapped[JsonObject]
    node: Mapped[JsonObject]
    max_nodes_to_add: Mapped[int]


class PlacementRow(Base):
    """One workload of one service runs at one place, so (service, workload) is the key."""

    __tablename__ = "mco_placements"

    service: Mapped[str] = mapped_column(String(63), primary_key=True)
    workload: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)
    site: Mapped[str] = mapped_column(String(63), index=True)
    cluster: Mapped[str | None] = mapped_column(String(63), index=True)
    position: Mapped[int]  # order in the repository; plans append new ones
    kind: Mapped[str] = mapped_column(String(8), default="caf")
    resources: Mapped[JsonObject | None]
    latency: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cost_per_hour: Mapped[float] = mapped_column(default=0.0)
    carbon_per_hour: Mapped[float] = mapped_column(default=0.0)
    since: Mapped[float | None]  # seconds since the epoch: when it came to its site


class RunRow(Base):
    """A placement's run that ended (it moved or went): what accounting keeps of it."""

    __tablename__ = "mco_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(63))
    workload: Mapped[str] = mapped_column(String(63))
    tenant: Mapped[str] = mapped_column(String(63), index=True)
    site: Mapped[str] = mapped_column(String(63))
    since: Mapped[float]
    until: Mapped[float]
    cost_per_hour: Mapped[float]
    carbon_per_hour: Mapped[float]


class HostRoleRow(Base):
    """A host a service holds in a role (tcra.mco.hosts). A hypervisor may have a row per
    service whose VMs it runs; a bare-metal host or cluster node has one."""

    __tablename__ = "mco_host_roles"

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    service: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)
    site: Mapped[str] = mapped_column(String(63), index=True)
    role: Mapped[str] = mapped_column(String(16))
    workloads: Mapped[list[str]] = mapped_column(JSON)
    cluster: Mapped[str | None] = mapped_column(String(63))


class HostClaimRow(Base):
    """A machine (its BMC and system) and the resource that consumes it (tcra.ownership): the
    claim a PhysicalHost makes when it is created, by its BMC address, under its Pulumi owner;
    a HostRoleRow is the plan's, by inventory name, under the service."""

    __tablename__ = "mco_host_claims"

    machine: Mapped[str] = mapped_column(String(1100), primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    owner: Mapped[str] = mapped_column(String(512))


class ServiceRow(Base):
    """A service whose workload inventory a resource recorded at `up` (ServiceRecord)."""

    __tablename__ = "mco_services"

    service: Mapped[str] = mapped_column(String(63), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)
    owner: Mapped[str] = mapped_column(String(512))


class DeployedRow(Base):
    """What was made for one placed workload (DeployedWorkload): the TCWI's own columns."""

    __tablename__ = "mco_deployed"

    service: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)
    workload: Mapped[str] = mapped_column(String(63), primary_key=True)
    cluster: Mapped[str | None] = mapped_column(String(63))
    release: Mapped[str | None] = mapped_column(String(53))
    namespace: Mapped[str | None] = mapped_column(String(63))
    vm_uuid: Mapped[str | None] = mapped_column(String(36))
    host_serial: Mapped[str | None] = mapped_column(String(253))
    sid: Mapped[str | None] = mapped_column(String(39))


def default_url() -> str:
    """A SQLite file next to the lab's state, so a fresh machine needs no database server."""
    return f"sqlite:///{state_home() / 'mco.db'}"


class Store:
    """The TCRR and TCWI in one database, at a SQLAlchemy URL (`postgresql+psycopg://...`)."""

    def __init__(self, url: str | None = None) -> None:
        try:
            parsed = make_url(url or default_url())
        except ArgumentError:  # from None: the raw string may hold a password
            raise StoreError("<unparsable URL>", f"not a database URL; {_EXPECTED}") from None
        try:
            postgres = parsed.get_backend_name() == "postgresql"
            self._engine = create_engine(
                parsed, poolclass=NullPool,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S} if postgres else {})
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(parsed.render_as_string(hide_password=True),
                             f"{exc}; {_EXPECTED}") from exc
        self.url = parsed.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema up to this tcra's newest revision; a no-op when it is there."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Alembic's `context` and `op` are module-level proxies: one migration at a time in a
        # process (Pulumi runs a provider's creates in threads, each opening the repository).
        with _MIGRATING, self._connection() as connection:
            if _revision(connection) == _head():
                return
            config = _alembic_config()
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "head")
            except CommandError as exc:  # e.g. a revision from a newer tcra
                raise StoreError(self.url, f"cannot migrate: {exc}") from exc

    def save_repository(self, repo: Repository) -> None:
        """Replace the sites, clusters and placements with `repo`'s, in one transaction (and
        drop the hosts held and what was deployed: they were for placements no longer
        recorded)."""
        with self._session() as session:
            for table in (DeployedRow, ServiceRow, HostRoleRow, PlacementRow, ClusterRow,
                          SiteRow):
                session.execute(delete(table))
            session.add_all(SiteRow(id=state.site.id, position=i, **state.model_dump(mode="json"))
                            for i, state in enumerate(repo.sites))
            session.add_all(ClusterRow(position=i, **cluster.model_dump(mode="json"))
                            for i, cluster in enumerate(repo.clusters))
            session.add_all(PlacementRow(position=i, **placement.model_dump(mode="json"))
                            for i, placement in enumerate(repo.placements))

    def load_repository(self) -> Repository:
        """The repository as saved (same order), with what plans recorded since."""
        with self._session() as session:
            sites = session.scalars(select(SiteRow).order_by(SiteRow.position, SiteRow.id))
            clusters = session.scalars(select(ClusterRow).order_by(
                ClusterRow.position, ClusterRow.site, ClusterRow.name))
            placements = session.scalars(select(PlacementRow).order_by(
                PlacementRow.position, PlacementRow.service, PlacementRow.workload))
            return Repository(sites=tuple(_model(SiteState, row) for row in sites),
                              clusters=tuple(_model(ClusterState, row) for row in clusters),
                              placements=tuple(_model(Placement, row) for row in placements))

    def record_plan(self, plan: Plan, request: ServiceRequest | None = None) -> None:
        """Make the placements of `plan.service` the plan's (Plan.placements), and only those,
        and the hosts it holds the plan's hosts; a host another service holds in another role
        (or exclusively) is refused. What `tcra place --store` keeps; a stack's `up` writes
        the whole ServiceRecord instead (`record`)."""
        try:
            placements = plan.placements(request)
        except ValidationError as exc:
            raise InvalidInputError(problems_from(exc, f"plan {plan.service}")) from exc
        with self._session() as session:
            self._place(session, plan.service, placements)
            self._hold(session, plan.service, plan.hosts)

    def record(self, record: ServiceRecord) -> None:
        """Make the service's placements, hosts and deployed workloads the record's, in one
        transaction. A service another owner recorded is refused, and so is a host clash."""
        with self._session() as session:
            row = session.get(ServiceRow, record.service)
            if row is not None and row.owner != record.owner:
                raise OwnedElsewhereError(f"the workload inventory of service"
                                          f" {record.service}", self.url, row.owner)
            self._place(session, record.service, record.placements)
            self._hold(session, record.service, record.hosts)
            session.execute(delete(DeployedRow).where(DeployedRow.service == record.service))
            session.add_all(DeployedRow(service=record.service, **d.model_dump(mode="json"))
                            for d in record.deployed)
            session.merge(ServiceRow(service=record.service, tenant=record.tenant,
                                     owner=record.owner))

    def recorded(self, service: str) -> ServiceRecord | None:
        """The service's record as the store holds it now; none when no resource wrote one."""
        with self._session() as session:
            row = session.get(ServiceRow, service)
            return self._record(session, row) if row is not None else None

    def records(self) -> tuple[ServiceRecord, ...]:
        """Every recorded service's, by service name: the whole TCWI."""
        with self._session() as session:
            return tuple(self._record(session, row) for row in session.scalars(
                select(ServiceRow).order_by(ServiceRow.service)))

    def forget(self, service: str, owner: str) -> None:
        """Remove the service's placements, hosts and deployed workloads, and nothing of any
        other service; a record another owner wrote, or none, is left as it is."""
        with self._session() as session:
            row = session.get(ServiceRow, service)
            if row is None or row.owner != owner:
                return
            now = time.time()
            for placed in session.scalars(select(PlacementRow).where(
                    PlacementRow.service == service)):
                self._close_run(session, placed, now)
            for table in (DeployedRow, HostRoleRow, PlacementRow, ServiceRow):
                session.execute(delete(table).where(table.service == service))

    def _record(self, session: Session, row: ServiceRow) -> ServiceRecord:
        of = row.service
        placements = session.scalars(select(PlacementRow).where(
            PlacementRow.service == of).order_by(PlacementRow.workload))
        hosts = session.scalars(select(HostRoleRow).where(HostRoleRow.service == of).order_by(
            HostRoleRow.site, HostRoleRow.host))
        deployed = session.scalars(select(DeployedRow).where(
            DeployedRow.service == of).order_by(DeployedRow.workload))
        return ServiceRecord(service=of, tenant=row.tenant, owner=row.owner,
                             placements=tuple(_model(Placement, r) for r in placements),
                             hosts=tuple(_model(HostRole, r) for r in hosts),
                             deployed=tuple(_model(DeployedWorkload, r) for r in deployed))

    def _place(self, session: Session, service: str, wanted: tuple[Placement, ...]) -> None:
        """The service's placement rows become `wanted`; a kept one keeps its position."""
        now = time.time()
        current = {row.workload: row for row in session.scalars(
            select(PlacementRow).where(PlacementRow.service == service))}
        for gone in current.keys() - {placement.workload for placement in wanted}:
            self._close_run(session, current[gone], now)
            session.delete(current[gone])
        position = session.execute(
            select(func.coalesce(func.max(PlacementRow.position) + 1, 0))).scalar_one()
        for placement in wanted:
            row = current.get(placement.workload)
            fields = placement.model_dump(mode="json")
            if row is None:
                session.add(PlacementRow(position=position, since=now, **fields))
                position += 1
            else:
                if row.site != placement.site:  # moved: its run at the new site starts now
                    self._close_run(session, row, now)
                    row.since = now
                for key in fields.keys() - {"service", "workload"}:
                    setattr(row, key, fields[key])

    def _close_run(self, session: Session, row: PlacementRow, now: float) -> None:
        """Keep the run `row` ends: at its site, its estimates, for its service's tenant."""
        if row.since is None:  # recorded before the store kept clocks: nothing to count
            return
        owner = session.get(ServiceRow, row.service)
        session.add(RunRow(service=row.service, workload=row.workload,
                           tenant=owner.tenant if owner else "default", site=row.site,
                           since=row.since, until=now, cost_per_hour=row.cost_per_hour,
                           carbon_per_hour=row.carbon_per_hour))

    def ended(self) -> dict[str, tuple[float, float]]:
        """Per tenant, the cost (EUR) and carbon (gCO2) of every ended run: estimate x hours."""
        hours = (RunRow.until - RunRow.since) / 3600
        query = select(RunRow.tenant, func.sum(RunRow.cost_per_hour * hours),
                       func.sum(RunRow.carbon_per_hour * hours)).group_by(RunRow.tenant)
        with self._session() as session:
            return {tenant: (float(cost), float(carbon))
                    for tenant, cost, carbon in session.execute(query)}

    def _hold(self, session: Session, service: str, hosts: tuple[HostRole, ...]) -> None:
        """The service's host rows become `hosts`; a clash with another's is refused."""
        for row in session.scalars(select(HostRoleRow).where(
                HostRoleRow.host.in_([h.host for h in hosts]), HostRoleRow.service != service)):
            mine = next(h for h in hosts if h.host == row.host)
            if mine.exclusive or row.role != mine.role.value:
                raise StoreError(self.url, f"host {row.host} is {row.role} of service"
                                 f" {row.service}; plan {service} wants it as"
                                 f" {mine.role.value}")
        session.execute(delete(HostRoleRow).where(HostRoleRow.service == service))
        session.add_all(HostRoleRow(**h.model_dump(mode="json")) for h in hosts)

    def placements(self, service: str | None = None) -> tuple[Placement, ...]:
        """The placements, of one service or all, sorted by service then workload."""
        query = select(PlacementRow).order_by(PlacementRow.service, PlacementRow.workload)
        if service is not None:
            query = query.where(PlacementRow.service == service)
        with self._session() as session:
            return tuple(_model(Placement, row) for row in session.scalars(query))

    def running(self) -> tuple[Running, ...]:
        """Every placement with its service's tenant, its clock and whether it is deployed,
        in one query: what `tcra sense` reads at each scrape. A placement `tcra place` wrote
        without a recorded service has the tenant `default`."""
        # columns, not ORM objects: at 10,000 placements the objects cost more than the query
        query = (select(PlacementRow.__table__, ServiceRow.tenant,
                        DeployedRow.workload.label("deployed"))
                 .outerjoin(ServiceRow, ServiceRow.service == PlacementRow.service)
                 .outerjoin(DeployedRow, (DeployedRow.service == PlacementRow.service)
                            & (DeployedRow.workload == PlacementRow.workload))
                 .order_by(PlacementRow.service, PlacementRow.workload))
        with self._session() as session:
            return tuple(Running(placement=_model(Placement, row),
                                 tenant=row.tenant or "default", since=row.since,
                                 deployed=row.deployed is not None)
                         for row in session.execute(query))

    def usage(self) -> Usage:
        """What every service holds: its placements and its hosts (tcra.mco.repository)."""
        placed = select(PlacementRow).order_by(PlacementRow.service, PlacementRow.workload)
        with self._session() as session:
            placements = session.scalars(placed)
            return Usage(placements=tuple(_model(Placement, row) for row in placements),
                         hosts=self._held(session))

    def held(self) -> tuple[HostRole, ...]:
        """Every host a service holds, in a role."""
        with self._session() as session:
            return self._held(session)

    def _held(self, session: Session) -> tuple[HostRole, ...]:
        return tuple(_model(HostRole, row) for row in session.scalars(select(
            HostRoleRow).order_by(HostRoleRow.site, HostRoleRow.host, HostRoleRow.service)))

    def add(self, rows: Iterable[Base]) -> None:
        """ORM rows added in one transaction: for a writer that batches them (tcra.api.audit)."""
        with self._session() as session:
            session.add_all(rows)

    def rows(self, *queries: Select[*tuple[Any, ...]]
             ) -> list[Sequence[Row[*tuple[Any, ...]]]]:
        """Each Core query's rows, read in one transaction: for a reader that keeps models of
        its own and would only pay for an ORM object per row (tcra.api.placing)."""
        with self._session() as session:
            connection = session.connection()
            return [connection.execute(query).all() for query in queries]

    def claim_host(self, machine: str, host: str, owner: str) -> str:
        """Record `owner` as the consumer of `machine` unless someone already is; returns the
        consumer now recorded (the caller's own owner when the claim is, or was, its own)."""
        with self._session() as session:
            row = session.get(HostClaimRow, machine)
            if row is None:
                session.add(HostClaimRow(machine=machine, host=host, owner=owner))
                return owner
            return row.owner

    def host_owner(self, machine: str) -> str | None:
        with self._session() as session:
            row = session.get(HostClaimRow, machine)
            return row.owner if row is not None else None

    def release_host(self, machine: str, owner: str) -> None:
        """Drop `owner`'s claim on `machine`; another owner's claim stays."""
        with self._session() as session:
            session.execute(delete(HostClaimRow).where(HostClaimRow.machine == machine,
                                                       HostClaimRow.owner == owner))

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """One connection in one transaction; library errors become StoreErrors."""
        try:
            connection = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StoreUnreachableError(self.url, self._cause(exc)) from exc
        try:
            with connection, connection.begin():
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(self.url, self._cause(exc)) from exc

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A session on a fresh connection, after checking the schema is the one we map."""
        with self._connection() as connection:
            revision = _revision(connection)
            if revision != _head():
                raise SchemaNotMigratedError(self.url, revision, _head())
            with Session(bind=connection) as session:  # joins the connection's transaction
                yield session
                session.flush()

    def _cause(self, exc: SQLAlchemyError) -> str:
        """The driver's own message on one line, with the password masked should it echo it."""
        text = " ".join(str(exc.orig if isinstance(exc, DBAPIError) else exc).split())
        password = self._engine.url.password
        return text.replace(str(password), "***") if password else text


def _model(model: type[M], row: Base | Row[Any]) -> M:
    return model.model_validate({name: getattr(row, name) for name in model.model_fields})


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _alembic_config() -> Config:
    """Alembic set up in code: the migrations ship inside the package, no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", "tcra.mco:migrations")
    return config


@cache
def _head() -> str:
    (head,) = ScriptDirectory.from_config(_alembic_config()).get_heads()  # one line of history
    return head

"""The MCO's store against real databases: a SQLite file and a PostgreSQL server of its own."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tcra.errors import TcraError
from tcra.mco.model import Capacity, ClusterState, Placement, Repository, SiteState, WorkloadKind
from tcra.mco.plan import Assignment, ClusterAction, Plan, SiteAction
from tcra.mco.store import (
    VERSION_TABLE,
    Base,
    SchemaNotMigratedError,
    Store,
    StoreError,
    StoreUnreachableError,
)
from tcra.model.site import Energy, Location, Site, SiteNetwork, Tier
from tcra.model.types import Quantity
from tests.integration.postgres import (
    free_port,
    fresh_database,
    postgres_url,  # noqa: F401 (a fixture: pytest finds it by name in this module)
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mco.db'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url):
    store = Store(url)
    store.migrate()
    return store


def site_state(id, tier, lat, lon, country, price, carbon, pue, renewable, cpu, latency, locator):
    site = Site(id=id, tier=tier, location=Location(lat=lat, lon=lon), provider=f"telco-{country}",
                jurisdiction=country, energy=Energy(price_per_kwh=price, carbon_intensity=carbon,
                                                    pue=pue, renewable_share=renewable),
                network=SiteNetwork(locator=locator))
    free = Capacity(cpu=cpu, memory=Quantity(f"{int(cpu) * 4}Gi"), hugepages=Quantity("8Gi"),
                    sriov_vfs=16, hosts=1)
    return SiteState(site=site, free=free, largest_host_cpu=32.0, ptp=tier is Tier.FAR_EDGE,
                     latency_ms=latency)


def placement(service, workload, site, cluster=None):
    return Placement(service=service, workload=workload, site=site, cluster=cluster)


REPOSITORY = Repository(
    sites=(
        site_state("edge-muc", Tier.FAR_EDGE, 48.137, 11.575, "DE", 0.31, 380.0, 1.6, 0.52, 24,
                   {"munich": 0.30000000000000004, "lyon": 14.7}, "fcbb:bb00:1::/48"),
        site_state("regional-lyon", Tier.REGIONAL, 45.764, 4.8357, "FR", 0.21, 56.0, 1.35, 0.3,
                   96.5, {"munich": 14.9, "lyon": 1.1}, "fcbb:bb00:2::/48"),
        site_state("core-fra", Tier.CORE, 50.11, 8.682, "DE", 0.27, 350.0, 1.2, 0.8, 512, {},
                   None),
    ),
    clusters=(
        ClusterState(name="muc-k8s", site="edge-muc", kind=WorkloadKind.CAF,
                     free=Capacity(cpu=6, memory=Quantity("24Gi")),
                     node=Capacity(cpu=8, memory=Quantity("32Gi"), sriov_vfs=8),
                     max_nodes_to_add=2),
        ClusterState(name="lyon-vms", site="regional-lyon", kind=WorkloadKind.VAF,
                     free=Capacity(cpu=40, memory=Quantity("160Gi"), hugepages=Quantity("16Gi")),
                     node=Capacity(cpu=16, memory=Quantity("64Gi"))),
    ),
    placements=(  # not sorted: the saved order must come back
        placement("video", "upf", "edge-muc", "muc-k8s"),
        placement("video", "cache", "core-fra"),
        placement("iot", "broker", "edge-muc", "muc-k8s"),
        placement("video", "transcoder", "regional-lyon", "lyon-vms"),
    ),
)


def assign(workload, site, **extra):
    return Assignment(workload=workload, site=site, score=0.5, cost_per_hour=0.12,
                      carbon_per_hour=40.0, **extra)


def test_migrate_twice_is_a_no_op_that_keeps_the_data(store):
    store.save_repository(REPOSITORY)
    store.migrate()
    assert store.load_repository() == REPOSITORY


def test_the_migration_builds_what_the_mapping_declares(store, url):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection,
                                                 opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == "0003"
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_saved_repository_loads_back_equal_and_a_new_save_replaces_it(store):
    store.save_repository(REPOSITORY)
    assert store.load_repository() == REPOSITORY
    smaller = Repository(sites=REPOSITORY.sites[2:], placements=REPOSITORY.placements[1:2])
    store.save_repository(smaller)
    assert store.load_repository() == smaller


def test_placements_are_sorted_and_filtered_by_service(store):
    store.save_repository(REPOSITORY)
    assert [(p.service, p.workload) for p in store.placements()] == [
        ("iot", "broker"), ("video", "cache"), ("video", "transcoder"), ("video", "upf")]
    assert store.placements("iot") == (placement("iot", "broker", "edge-muc", "muc-k8s"),)
    assert store.placements("nothing") == ()


def test_record_plan_moves_adds_and_removes_only_that_services_placements(store):
    store.save_repository(REPOSITORY)
    plan = Plan(
        service="video", tenant="default", deferred=("cache",),
        assignments=(assign("upf", "edge-muc"),
                     assign("transcoder", "core-fra", moved_from="regional-lyon",
                            move_reason="lyon is full"),
                     assign("dpi", "edge-muc"),
                     assign("timing", "edge-muc")),
        actions=(SiteAction(site="edge-muc", kind=WorkloadKind.CAF, action=ClusterAction.SCALE,
                            cluster="muc-k8s", nodes=1, workloads=("upf", "dpi")),
                 SiteAction(site="edge-muc", kind=WorkloadKind.PAF,
                            action=ClusterAction.CLAIM_HOSTS, nodes=1, workloads=("timing",)),
                 SiteAction(site="core-fra", kind=WorkloadKind.VAF, action=ClusterAction.CREATE,
                            cluster="fra-vms", nodes=2, workloads=("transcoder",))),
    )
    store.record_plan(plan)
    store.record_plan(plan)  # recording the same plan again changes nothing
    assert store.placements("video") == (
        placement("video", "dpi", "edge-muc", "muc-k8s"),
        placement("video", "timing", "edge-muc"),
        placement("video", "transcoder", "core-fra", "fra-vms"),
        placement("video", "upf", "edge-muc", "muc-k8s"),
    )
    assert store.load_repository() == REPOSITORY.model_copy(update={"placements": (
        placement("video", "upf", "edge-muc", "muc-k8s"),
        placement("iot", "broker", "edge-muc", "muc-k8s"),
        placement("video", "transcoder", "core-fra", "fra-vms"),
        placement("video", "dpi", "edge-muc", "muc-k8s"),
        placement("video", "timing", "edge-muc"),
    )})
    store.record_plan(Plan(service="video", tenant="default", deferred=("upf",)))
    assert store.placements() == (placement("iot", "broker", "edge-muc", "muc-k8s"),)


def test_an_unmigrated_database_is_refused_with_its_url(url):
    store = Store(url)
    with pytest.raises(SchemaNotMigratedError, match="revision none, this tcra needs") as error:
        store.load_repository()
    assert store.url in str(error.value)


def assert_no_secret(error, secret):
    """Neither the message nor any cause a traceback would show may carry the password."""
    while error is not None:
        assert secret not in str(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def test_a_server_that_is_not_there_is_named_without_the_password():
    url = f"postgresql+psycopg://tcra:hunter2-secret@127.0.0.1:{free_port()}/tcra"
    with pytest.raises(StoreUnreachableError) as error:
        Store(url).migrate()
    message = str(error.value)
    assert message.startswith("MCO store postgresql+psycopg://tcra:***@127.0.0.1:")
    assert "cannot connect" in message
    assert_no_secret(error.value, "hunter2-secret")


def test_a_wrong_password_is_refused_without_showing_it(postgres_url):  # noqa: F811 (fixture)
    url = make_url(postgres_url).set(password="hunter2-secret")
    with pytest.raises(StoreUnreachableError, match="password authentication failed") as error:
        Store(url.render_as_string(hide_password=False)).load_repository()
    assert_no_secret(error.value, "hunter2-secret")


@pytest.mark.parametrize("url", ["u:hunter2-secret@host/db", "nodb+nodriver://u:hunter2-secret@h/db",
                                 "sqlite:////nonexistent-folder/mco.db"])
def test_an_unusable_url_is_a_tcra_error(url):
    with pytest.raises(TcraError) as error:
        Store(url).load_repository()
    assert isinstance(error.value, StoreError)
    assert_no_secret(error.value, "hunter2-secret")


def test_threads_that_open_a_new_repository_at_once_all_get_it_migrated(tmp_path):
    # what Pulumi does when several PhysicalHosts are created in parallel
    url = f"sqlite:///{tmp_path / 'tcrr.db'}"

    def claim(i: int) -> str:
        store = Store(url)
        store.migrate()
        return store.claim_host(f"machine-{i}", f"host-{i}", f"s/l/h{i}@{'0' * 32}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        owners = list(pool.map(claim, range(16)))
    assert owners == [f"s/l/h{i}@{'0' * 32}" for i in range(16)]
    assert Store(url).claim_host("machine-3", "host-3", f"x/y/z@{'1' * 32}") == owners[3]

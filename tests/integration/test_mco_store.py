"""The MCO's store against real databases: a SQLite file and a PostgreSQL server of its own."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import tcra.api.store  # noqa: F401 - the API's tables, mapped on the store's Base
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


def placement(service, workload, site, cluster=None, **extra):
    return Placement(service=service, workload=workload, site=site, cluster=cluster, **extra)


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


ESTIMATES = {"cost_per_hour": 0.12, "carbon_per_hour": 40.0}  # per assignment


def assign(workload, site, **extra):
    return Assignment(workload=workload, site=site, score=0.5, **ESTIMATES, **extra)


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
            assert context.get_current_revision() == "0011"
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
        placement("video", "dpi", "edge-muc", "muc-k8s", **ESTIMATES),
        placement("video", "timing", "edge-muc", **ESTIMATES),
        placement("video", "transcoder", "core-fra", "fra-vms", **ESTIMATES),
        placement("video", "upf", "edge-muc", "muc-k8s", **ESTIMATES),
    )
    assert store.load_repository() == REPOSITORY.model_copy(update={"placements": (
        placement("video", "upf", "edge-muc", "muc-k8s", **ESTIMATES),
        placement("iot", "broker", "edge-muc", "muc-k8s"),
        placement("video", "transcoder", "core-fra", "fra-vms", **ESTIMATES),
        placement("video", "dpi", "edge-muc", "muc-k8s", **ESTIMATES),
        placement("video", "timing", "edge-muc", **ESTIMATES),
    )})
    store.record_plan(Plan(service="video", tenant="default", deferred=("upf",)))
    assert store.placements() == (placement("iot", "broker", "edge-muc", "muc-k8s"),)


def since(store):
    return {(r.placement.service, r.placement.workload): r.since for r in store.running()}


def test_a_placement_runs_since_it_came_to_its_site_and_a_move_restarts_its_clock(store):
    plan = Plan(service="video", tenant="default",
                assignments=(assign("upf", "edge-muc"), assign("dpi", "edge-muc")))
    before = time.time()
    store.record_plan(plan)
    first = since(store)
    assert set(first) == {("video", "upf"), ("video", "dpi")}
    assert all(before <= since <= time.time() for since in first.values())
    store.record_plan(plan)  # the same plan again: the clocks go on
    assert since(store) == first
    assert store.ended() == {}
    moved = plan.model_copy(update={"assignments": (assign("upf", "edge-muc"),
                                                    assign("dpi", "core-fra"))})
    store.record_plan(moved)
    now = since(store)
    assert now[("video", "upf")] == first[("video", "upf")]
    assert now[("video", "dpi")] > first[("video", "dpi")]
    # the run at edge-muc ended where the one at core-fra began: accounting keeps it
    hours = (now[("video", "dpi")] - first[("video", "dpi")]) / 3600
    [(cost, carbon)] = store.ended().values()
    assert cost == pytest.approx(ESTIMATES["cost_per_hour"] * hours)
    assert carbon == pytest.approx(ESTIMATES["carbon_per_hour"] * hours)
    store.record_plan(Plan(service="video", tenant="default"))
    assert since(store) == {}
    ended = store.ended()["default"]  # both placements' runs ended: more was counted
    assert ended[0] > cost and ended[1] > carbon


def test_plans_record_what_they_take_and_the_hosts_they_hold(store):
    from tcra.mco.model import HostRole, Resources, Role, ServiceRequest

    request = ServiceRequest.model_validate({"name": "video", "workloads": [
        {"name": "encoder", "kind": "paf", "resources": {"cpu": 8, "memory": "32Gi"}},
        {"name": "cache", "kind": "vaf", "resources": {"cpu": 2, "memory": "4Gi"}}]})
    metal = HostRole(site="edge-muc", host="muc-01", role=Role.BARE_METAL, service="video",
                     workloads=("encoder",))
    vms = HostRole(site="edge-muc", host="muc-02", role=Role.HYPERVISOR, service="video",
                   workloads=("cache",))
    plan = Plan(service="video", tenant="default", hosts=(metal, vms),
                assignments=(assign("encoder", "edge-muc"), assign("cache", "edge-muc")))
    store.record_plan(plan, request)
    used = store.usage()
    assert used.hosts == (metal, vms)
    assert {p.workload: (p.kind, p.resources) for p in used.placements} == {
        "encoder": (WorkloadKind.PAF, Resources(cpu=8, memory=Quantity("32Gi"))),
        "cache": (WorkloadKind.VAF, Resources(cpu=2, memory=Quantity("4Gi")))}
    # another service may run VMs on the same hypervisor, never take the bare-metal host
    shared = vms.model_copy(update={"service": "iot", "workloads": ("db",)})
    store.record_plan(Plan(service="iot", tenant="default", hosts=(shared,)))
    with pytest.raises(StoreError, match="host muc-01 is bare-metal of service video; plan"
                       " iot wants it as kubernetes-node"):
        store.record_plan(Plan(service="iot", tenant="default", hosts=(metal.model_copy(
            update={"service": "iot", "role": Role.KUBERNETES_NODE, "workloads": ()}),)))
    assert store.usage().hosts == (metal, shared, vms)
    store.record_plan(Plan(service="video", tenant="default"))  # the service is gone
    assert store.usage().hosts == (shared,)


def test_two_services_share_the_inventory_through_the_store(store):
    """The second service sees what the first holds: it goes elsewhere, or is refused with
    the constraint that binds, never overbooks."""
    from tcra.inventory import load
    from tcra.mco.hosts import place_on_hosts
    from tcra.mco.model import Policy, ServiceRequest
    from tests.conftest import EXAMPLE

    inventory = load(EXAMPLE)

    def request(name):  # the whole of Frankfurt's two 64-core hosts, as bare metal
        return ServiceRequest.model_validate({
            "name": name, "areas": {"fra": {"lat": 50.11, "lon": 8.68}}, "workloads": [
                {"name": f"render-{i}", "kind": "paf", "latency": [{"area": "fra",
                                                                     "max_ms": 2}],
                 "resources": {"cpu": 48, "memory": "256Gi", "gpus": 2}} for i in (1, 2)]})

    for name in ("first", "second"):
        wanted = request(name)
        used = store.usage()
        plan = place_on_hosts(wanted, Policy(), inventory, running=used.of(name), taken=used)
        store.record_plan(plan, wanted)
        if name == "first":
            assert plan.feasible
            assert {h.host for h in plan.hosts} == {"frankfurt-reg-01", "frankfurt-reg-02"}
    assert {u.workload for u in plan.unplaced} == {"render-1", "render-2"}
    assert ("within 2 ms but without room: regional_frankfurt (needs 48 cores, 0 free)"
            in plan.unplaced[0].reason)
    assert {(h.host, h.service) for h in store.usage().hosts} == {
        ("frankfurt-reg-01", "first"), ("frankfurt-reg-02", "first")}


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

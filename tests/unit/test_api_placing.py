"""tcra.api.placing.Bookings on a real SQLite store: what it keeps in memory stays true when
others write the store (operators' runs recording and forgetting services, an instance's stack
recording its own, workers failing or removing instances, another server booking), and one
server's bookings never take more than a site has, however many threads book at once."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tcra.api.errors import ApiError
from tcra.api.placing import Bookings
from tcra.api.store import ApiStore, InstanceRow
from tcra.api.zones import zone_id
from tcra.inventory import load
from tcra.mco.model import Placement, Policy, Resources, ServiceRecord, WorkloadRequest
from tcra.model import Quantity
from tcra.model.site import SiteCluster
from tests.conftest import EXAMPLE

SITE = "factory_munich"  # two hosts of 32 cores: 64 to place containers on
ZONE = zone_id(SITE)
CORES = 64


@pytest.fixture
def inventory(tmp_path):
    """The example inventory, with a Kubernetes cluster at SITE to place onto."""
    example = load(EXAMPLE)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return example.model_copy(update={"sites": tuple(
        s.model_copy(update={"cluster": SiteCluster(name=f"{s.id}-k8s", kubeconfig=kubeconfig)})
        if s.id == SITE else s for s in example.sites)})


@pytest.fixture
def url(tmp_path):
    ApiStore(f"sqlite:///{tmp_path / 'store.db'}").migrate()
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(url):
    return ApiStore(url)


@pytest.fixture
def others(url):
    """The same database as another process sees it: an operator's run, a stack, a server."""
    return ApiStore(url)


def workload(cpu: float) -> WorkloadRequest:
    return WorkloadRequest(name="web", resources=Resources(cpu=cpu, memory=Quantity("1Gi")),
                           sites=(SITE,))


def book(bookings: Bookings, store: ApiStore, cpu: float) -> InstanceRow:
    """An instance of `cpu` cores (32 at most: a host's) booked at SITE as createAppInstance
    books it: its row written, instantiating, while the booking holds the lock."""
    instance_id = str(uuid.uuid4())
    service = f"app-{instance_id}"
    made = []

    def keep(placed: list[Placement]) -> None:
        row = InstanceRow(
            instance_id=instance_id, tenant="acme", app_id=str(uuid.uuid4()),
            name=f"i{instance_id[:8]}", zone_id=ZONE, site=placed[0].site,
            placement=placed[0].model_dump(mode="json"), manifest={}, status="instantiating",
            reason=None, endpoints=[], sink=None, deployment_id=None, stack=service,
            attempts=0, changed_ms=0)
        store.add_instance(row)
        made.append(row)

    bookings.book(Policy(), [(service, workload(cpu), ZONE)], keep)
    return made[0]


class ProbedError(Exception):
    """Raised by a probe's `keep`: the booking it would make is not kept."""


def fits(bookings: Bookings, cpu: float) -> bool:
    """Whether SITE has room for `cpu` cores now; nothing is booked (`keep` raises)."""
    def keep(_placed: list[Placement]) -> None:
        raise ProbedError

    try:
        bookings.book(Policy(), [("app-probe", workload(cpu), ZONE)], keep)
    except ProbedError:
        return True
    except ApiError as exc:
        assert exc.status == 409 and "no room for web" in exc.message
        return False
    raise AssertionError("keep was not called")


def recorded(service: str, owner: str, cpu: float) -> ServiceRecord:
    """What a stack's WorkloadInventory writes at `up`: its one workload's placement at SITE."""
    return ServiceRecord(service=service, tenant="acme", owner=owner, placements=(Placement(
        service=service, workload="web", site=SITE, cluster=f"{SITE}-k8s",
        resources=Resources(cpu=cpu, memory=Quantity("1Gi"))),))


def test_a_service_others_record_then_forget_is_taken_then_free_again(inventory, store, others):
    bookings = Bookings(inventory, store)
    assert fits(bookings, 32)
    others.record(recorded("operators-db", "operator", 40))
    assert not fits(bookings, 32) and fits(bookings, 24)
    others.forget("operators-db", "operator")
    assert fits(bookings, 32)


def test_a_failed_or_removed_instance_releases_its_booking(inventory, store, others):
    bookings = Bookings(inventory, store)
    first, second = book(bookings, store, 32), book(bookings, store, 32)
    assert not fits(bookings, 8)
    others.update_instance(first.instance_id, status="failed", reason="its stack failed")
    book(bookings, store, 32)
    assert not fits(bookings, 8)
    others.remove_instance(second.instance_id)
    assert fits(bookings, 32)


def test_an_instance_whose_stack_recorded_its_service_is_counted_once(
        inventory, store, others):
    bookings = Bookings(inventory, store)
    first = book(bookings, store, 24)
    owner = f"urn:pulumi:{first.stack}"
    others.record(recorded(first.stack, owner, 24))  # its stack's up, still instantiating
    assert fits(bookings, 32)  # 24 taken once: counted twice, 16 would be left
    others.update_instance(first.instance_id, status="ready")
    book(bookings, store, 32)
    assert not fits(bookings, 16)  # still taken, by the record alone
    others.forget(first.stack, owner)  # the instance deleted: its stack destroyed
    assert fits(bookings, 16)


def test_what_another_server_books_is_taken_here_too(inventory, store, others):
    here, there = Bookings(inventory, store), Bookings(inventory, others)
    assert fits(here, 32)
    book(there, others, 32), book(there, others, 24)
    assert not fits(here, 16) and fits(here, 8)


def test_a_keep_that_raises_books_nothing(inventory, store):
    bookings = Bookings(inventory, store)
    assert fits(bookings, 32) and fits(bookings, 32)
    book(bookings, store, 32), book(bookings, store, 32)
    assert not fits(bookings, 1)


def test_threads_booking_at_once_never_take_more_than_the_site_has(inventory, store):
    bookings = Bookings(inventory, store)
    start = threading.Barrier(12)

    def one(_: int) -> int:
        start.wait()
        try:
            book(bookings, store, 15)
        except ApiError as exc:
            return exc.status
        return 202

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(12)))
    assert answers.count(202) == CORES // 15 == len(store.instances())
    assert answers.count(409) == 12 - CORES // 15

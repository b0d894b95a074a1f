"""The live resource repository: what the peers report in use, combined with the store's
records without counting anything twice; a peer that does not answer fails the reading by
name. The readings here are input data, built by hand; tests/integration/test_live_reading.py
reads a real lab."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcra.mco.hosts import place_on_hosts
from tcra.mco.live import LiveReadError, _quantity, _requests, read
from tcra.mco.model import (
    ClusterRoom,
    HostRole,
    HypervisorFree,
    LiveReading,
    Placement,
    Policy,
    Resources,
    Role,
    Usage,
    WorkloadKind,
)
from tcra.mco.repository import besides, free_capacity, from_inventory
from tcra.model import Inventory, Quantity
from tcra.model.host import Capabilities, HugepagePool, Hypervisor
from tcra.model.site import SiteCluster
from tests.unit.test_mco_hosts import OT, a_host, a_site, plant, recorded, roles, service

GI = 2**30


def hv_only(memory_gi: int = 64, hugepages: int = 0) -> Inventory:
    """One site whose one machine is a hypervisor, with an existing cluster."""
    caps = Capabilities(cores=16, memory=Quantity(f"{memory_gi}Gi"), hugepages=(
        (HugepagePool(size=Quantity("2Mi"), count=hugepages),) if hugepages else ()))
    site = a_site("plant").model_copy(update={"cluster": SiteCluster(
        name="plant-k8s", kubeconfig=__file__)})
    return Inventory(sites=(site,), hypervisors=(Hypervisor(
        name="hv-01", site="plant", libvirt_uri="qemu:///system", capabilities=caps),))


def vm(service_name: str, workload: str, memory: str, hugepages: str = "0") -> Usage:
    return Usage(placements=(Placement(service=service_name, workload=workload, site="plant",
                                       kind=WorkloadKind.VAF, resources=Resources(
                                           cpu=1, memory=Quantity(memory),
                                           hugepages=Quantity(hugepages))),),
                 hosts=(HostRole(site="plant", host="hv-01", role=Role.HYPERVISOR,
                                 service=service_name, workloads=(workload,)),))


def hypervisor_free(memory: str, hugepages: str = "0") -> LiveReading:
    return LiveReading(hypervisors=(HypervisorFree(
        hypervisor="hv-01", memory=Quantity(memory), hugepages=Quantity(hugepages)),))


def test_a_host_powered_on_that_no_record_holds_is_neither_capacity_nor_bare_metal():
    on = LiveReading(powered_on=frozenset({"gpu-01"}))
    (booked,) = free_capacity(plant(), Usage())
    (live,) = free_capacity(plant(), Usage(), on)
    assert (booked.free.hosts, booked.free.gpus, booked.free.cpu) == (3, 1, 16 + 32 + 8)
    assert (live.free.hosts, live.free.gpus, live.free.cpu) == (2, 0, 32 + 8)
    second = a_host("gpu-02", "plant", gpus=1, index=4)
    two = plant().model_copy(update={"hosts": (*plant().hosts, second)})
    assert roles(place_on_hosts(OT, Policy(), two))["gpu-01"] == (Role.BARE_METAL, ("inspect",))
    assert roles(place_on_hosts(OT, Policy(), two, live=on))["gpu-02"] == (
        Role.BARE_METAL, ("inspect",))


def test_a_powered_on_hypervisor_stays_for_vms_but_is_no_free_bare_metal():
    on = LiveReading(powered_on=frozenset({"hv-01"}))
    (site,) = free_capacity(plant(), Usage(), on)
    assert (site.free.hosts, site.free.cpu, site.hypervisor) == (2, 16 + 32 + 8, True)
    job = service("job", ("big", "paf", 24, "64Gi", {}))  # only hv-01 is that large
    plan = place_on_hosts(job, Policy(), plant(), live=on)
    (unplaced,) = plan.unplaced
    assert "hv-01 is powered on, held by no service (in use outside tcra)" in unplaced.reason
    assert place_on_hosts(job, Policy(), plant()).unplaced == ()


def test_the_service_keeps_its_own_hosts_that_its_records_show_powered_on():
    first = place_on_hosts(OT, Policy(), plant())
    taken = recorded((first, OT))
    on = LiveReading(powered_on=frozenset(h.host for h in first.hosts))
    again = place_on_hosts(OT, Policy(), plant(), running=taken.of("ot"), taken=taken, live=on)
    assert roles(again) == roles(first) and again.unplaced == ()
    # for another service, hosts the records hold and the BMCs report on leave once
    assert free_capacity(plant(), taken, on) == free_capacity(plant(), taken)


def test_memory_in_use_beyond_the_recorded_vms_is_subtracted_once():
    inventory = hv_only(memory_gi=64)
    others = vm("db", "pg", "8Gi")
    (booked,) = free_capacity(inventory, others)
    assert booked.free.memory == Quantity("56Gi")
    # libvirt sees the 8Gi VM and 2Gi more (the host's own OS): only the 2Gi is new
    (site,) = free_capacity(inventory, others, hypervisor_free("54Gi"))
    assert site.free.memory == Quantity("54Gi")
    # a VM that has not touched its memory yet leaves libvirt more free than recorded
    (lazy,) = free_capacity(inventory, others, hypervisor_free("60Gi"))
    assert lazy.free.memory == Quantity("56Gi")


def test_hugepages_in_use_beyond_the_records_are_subtracted_once():
    inventory = hv_only(hugepages=512)  # 1Gi of 2Mi pages
    others = vm("db", "pg", "256Mi", hugepages="256Mi")
    (site,) = free_capacity(inventory, others, hypervisor_free("60Gi", hugepages="512Mi"))
    assert site.free.hugepages == Quantity("512Mi")  # 256Mi recorded, 256Mi used outside


def test_a_vm_of_the_service_itself_is_free_for_it_again():
    inventory = hv_only(memory_gi=64)
    own = vm("db", "pg", "8Gi")
    seen = hypervisor_free("54Gi")  # its 8Gi VM runs, and 2Gi of the host's
    assert besides(seen, own).hypervisors[0].memory == Quantity("62Gi")
    (site,) = free_capacity(inventory, Usage(), besides(seen, own))
    assert site.free.memory == Quantity("62Gi")


def test_the_existing_cluster_has_the_smaller_of_its_room_and_the_site_free():
    inventory = hv_only(memory_gi=64)
    small = LiveReading(clusters=(ClusterRoom(site="plant", cluster="plant-k8s", cpu=1.5,
                                              memory=Quantity("3Gi")),))
    (cluster,) = from_inventory(inventory, live=small).clusters
    assert (cluster.free.cpu, cluster.free.memory) == (1.5, Quantity("3Gi"))
    big = LiveReading(clusters=(ClusterRoom(site="plant", cluster="plant-k8s", cpu=100,
                                            memory=Quantity("1Ti")),))
    (cluster,) = from_inventory(inventory, live=big).clusters
    assert (cluster.free.cpu, cluster.free.memory) == (16, Quantity("64Gi"))
    (unread,) = from_inventory(inventory).clusters
    assert unread.free == cluster.free


def test_pods_of_the_service_itself_on_the_existing_cluster_are_room_for_it_again():
    inventory = hv_only(memory_gi=64)
    app = service("app", ("web", "caf", 2, "4Gi", {}))
    taken = Usage(placements=(Placement(service="app", workload="web", site="plant",
                                        cluster="plant-k8s", kind=WorkloadKind.CAF,
                                        resources=Resources(cpu=2, memory=Quantity("4Gi"))),))
    full = LiveReading(clusters=(ClusterRoom(site="plant", cluster="plant-k8s", cpu=0.5,
                                             memory=Quantity("1Gi")),))
    again = place_on_hosts(app, Policy(), inventory, running=taken.of("app"), taken=taken,
                           live=full)
    assert [(a.action.value, a.cluster) for a in again.actions] == [("reuse", "plant-k8s")]
    other = place_on_hosts(service("b", ("api", "caf", 2, "4Gi", {})), Policy(), inventory,
                           taken=taken, live=full)
    assert [u.workload for u in other.unplaced] == ["api"]


@given(memory=st.integers(1, 256), vms=st.lists(st.integers(1, 64), max_size=4),
       containers=st.integers(0, 64), live_memory=st.integers(0, 300),
       room_cpu=st.floats(0, 64), room_memory=st.integers(0, 300))
def test_free_never_exceeds_the_records_nor_the_peers(memory, vms, containers, live_memory,
                                                      room_cpu, room_memory):
    inventory = hv_only(memory_gi=memory)
    placements = [*(p for i, m in enumerate(vms) for p in vm("db", f"vm{i}", f"{m}Gi")
                    .placements),
                  *([Placement(service="db", workload="app", site="plant",
                               cluster="plant-k8s", kind=WorkloadKind.CAF,
                               resources=Resources(cpu=1, memory=Quantity(f"{containers}Gi")))]
                    if containers else [])]
    taken = Usage(placements=tuple(placements), hosts=vm("db", "x", "1Gi").hosts)
    live = LiveReading(
        hypervisors=(HypervisorFree(hypervisor="hv-01", memory=Quantity(live_memory * GI),
                                    hugepages=Quantity(0)),),
        clusters=(ClusterRoom(site="plant", cluster="plant-k8s", cpu=room_cpu,
                              memory=Quantity(room_memory * GI)),))
    booked = from_inventory(inventory, taken=taken)
    found = from_inventory(inventory, taken=taken, live=live)
    (site,), (booked_site,) = found.sites, booked.sites
    assert site.free.memory <= booked_site.free.memory
    assert site.free.memory.bytes <= live_memory * GI
    (cluster,), (booked_cluster,) = found.clusters, booked.clusters
    assert cluster.free.cpu <= min(booked_cluster.free.cpu, room_cpu)
    assert cluster.free.memory.bytes <= min(booked_cluster.free.memory.bytes, room_memory * GI)


@pytest.mark.parametrize(("text", "value"), [
    ("250m", Decimal("0.25")), ("2", Decimal(2)), ("1.5Gi", Decimal(3 * 2**29)),
    ("1e3", Decimal(1000)), ("129003Ki", Decimal(129003 * 1024)), ("1G", Decimal(10**9))])
def test_kubernetes_quantities_read_as_numbers(text, value):
    assert _quantity(text) == value


def test_a_pod_requests_its_containers_sum_or_its_largest_init_container_plus_overhead():
    pod = {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                          {"resources": {"requests": {"cpu": "250m", "hugepages-2Mi": "4Mi"}}},
                          {"name": "no-requests"}],
           "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "16Mi"}}}],
           "overhead": {"cpu": "100m", "memory": "8Mi"}}
    assert _requests(pod) == {"cpu": Decimal("1.1"), "memory": Decimal(72 * 2**20),
                              "hugepages": Decimal(4 * 2**20)}


def test_a_bmc_that_does_not_answer_fails_the_reading_naming_host_and_address(monkeypatch):
    monkeypatch.setenv("BMC", "not-a-real-password")
    host = a_host("gpu-01", "plant").model_copy(update={"bmc": a_host("gpu-01", "plant").bmc
                                                        .model_copy(update={
                                                            "address": "https://127.0.0.1:9"})})
    with pytest.raises(LiveReadError, match=r"host gpu-01: BMC https://127.0.0.1:9: "):
        read(Inventory(sites=(a_site("plant"),), hosts=(host,)), timeout=2)


def test_a_hypervisor_that_does_not_answer_fails_the_reading_naming_it_and_its_uri():
    inventory = hv_only().model_copy(update={"sites": (a_site("plant"),)})
    hv = inventory.hypervisors[0].model_copy(update={
        "libvirt_uri": "qemu+tcp://127.0.0.1:9/system"})
    with pytest.raises(LiveReadError, match=r"^hypervisor hv-01: libvirt"
                                            r" qemu\+tcp://127.0.0.1:9/system: "):
        read(inventory.model_copy(update={"hypervisors": (hv,)}), timeout=2)


def test_a_cluster_that_cannot_be_read_fails_the_reading_naming_site_and_cluster(tmp_path):
    inventory = hv_only().model_copy(update={"hypervisors": ()})
    site = inventory.sites[0]
    gone = site.model_copy(update={"cluster": site.cluster.model_copy(update={
        "kubeconfig": tmp_path / "missing"})})
    with pytest.raises(LiveReadError, match=r"^site plant: cluster plant-k8s: cannot read its"
                                            r" kubeconfig .*missing"):
        read(inventory.model_copy(update={"sites": (gone,)}))
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    silent = site.model_copy(update={"cluster": site.cluster.model_copy(update={
        "kubeconfig": tmp_path / "kubeconfig"})})
    with pytest.raises(LiveReadError, match=r"^site plant: cluster plant-k8s: Kubernetes API"
                                            r" https://127.0.0.1:9: GET /api/v1/nodes"):
        read(inventory.model_copy(update={"sites": (silent,)}), timeout=2)


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-real-token}}]
"""

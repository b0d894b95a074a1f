"""A plan down to the host: one role per host, sticky, other services' hosts and capacity left
to them, a workload without a host named with its site and reason."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tcra.mco.hosts import place_on_hosts
from tcra.mco.model import (
    Capacity,
    ClusterState,
    HostRole,
    Placement,
    Policy,
    Role,
    ServiceRequest,
    Usage,
    WorkloadKind,
)
from tcra.mco.plan import ClusterAction
from tcra.mco.repository import free_capacity
from tcra.model import Inventory, Quantity
from tcra.model.host import (
    BmcCredentials,
    BmcEndpoint,
    Capabilities,
    Gpu,
    Host,
    Hypervisor,
)
from tcra.model.site import Energy, Location, Site, SiteCluster, Tier

HERE = Location(lat=48.1, lon=11.5)


def a_site(name, lat=48.1):
    return Site(id=name, tier=Tier.EDGE, location=Location(lat=lat, lon=11.5), provider="p",
                jurisdiction="DE", energy=Energy(price_per_kwh=0.2, carbon_intensity=300,
                                                 pue=1.5, renewable_share=0.5))


def a_host(name, site, cores=16, memory="64Gi", gpus=0, ptp=False, index=1):
    return Host(name=name, site=site, bmc=BmcEndpoint(
        address=f"https://192.0.2.{index}", system_id="1",
        credentials=BmcCredentials(username="u", password="env:BMC")),
        capabilities=Capabilities(cores=cores, memory=Quantity(memory), ptp=ptp,
                                  gpus=(Gpu(model="L4", count=gpus),) if gpus else ()))


def a_hypervisor(host):
    return Hypervisor(name=host.name, site=host.site, libvirt_uri="qemu:///system",
                      capabilities=host.capabilities)


def plant():
    """One site: a GPU host, a hypervisor that is also a host, a small plain host."""
    gpu = a_host("gpu-01", "plant", gpus=1, index=1)
    hv = a_host("hv-01", "plant", cores=32, memory="128Gi", index=2)
    small = a_host("small-01", "plant", cores=8, memory="32Gi", index=3)
    return Inventory(sites=(a_site("plant"),), hosts=(gpu, hv, small),
                     hypervisors=(a_hypervisor(hv),))


def service(name, *workloads):
    return ServiceRequest.model_validate({
        "name": name, "areas": {"plant": HERE.model_dump()},
        "workloads": [{"name": w, "kind": kind, "resources": {"cpu": cpu, "memory": memory,
                                                               **extra}}
                      for w, kind, cpu, memory, extra in workloads]})


def roles(plan):
    return {h.host: (h.role, h.workloads or (h.cluster,)) for h in plan.hosts}


def recorded(*plans_and_requests):
    """What a store would hold after these plans: placements with resources, and hosts."""
    placements, hosts = [], []
    for plan, request in plans_and_requests:
        wanted = {w.name: w for w in request.workloads}
        placements += [Placement(service=plan.service, workload=a.workload, site=a.site,
                                 kind=wanted[a.workload].kind,
                                 resources=wanted[a.workload].resources,
                                 cluster=next((x.cluster for x in plan.actions
                                               if a.workload in x.workloads), None))
                       for a in plan.assignments]
        hosts += plan.hosts
    return Usage(placements=tuple(placements), hosts=tuple(hosts))


OT = service("ot", ("inspect", "paf", 4, "16Gi", {"gpus": 1}), ("historian", "vaf", 4, "8Gi", {}),
             ("broker", "caf", 2, "4Gi", {}))


def test_each_host_gets_one_role_the_gpu_host_as_bare_metal():
    plan = place_on_hosts(OT, Policy(), plant())
    assert plan.feasible
    assert roles(plan) == {
        "gpu-01": (Role.BARE_METAL, ("inspect",)),
        "hv-01": (Role.HYPERVISOR, ("historian",)),
        "small-01": (Role.KUBERNETES_NODE, ("ot-plant-caf",))}
    (create,) = [a for a in plan.actions if a.kind is WorkloadKind.CAF]
    assert create.nodes == 1


def test_a_vm_goes_to_a_hypervisor_that_can_give_it_its_dedicated_cpus():
    """hv-01 lists no pinnable CPUs; hv-02 has 2: the plan puts the pinned VM there, and a
    second one finds no hypervisor left, named with the site."""
    hv1 = a_host("hv-01", "plant", cores=32, memory="128Gi", index=2)
    hv2 = a_host("hv-02", "plant", cores=4, memory="16Gi", index=3)
    hv2 = hv2.model_copy(update={"capabilities": hv2.capabilities.model_copy(
        update={"pinnable_cpus": (2, 3)})})
    inventory = Inventory(sites=(a_site("plant"),), hosts=(hv1, hv2),
                          hypervisors=(a_hypervisor(hv1), a_hypervisor(hv2)))
    pinned = ("vaf", 2, "2Gi", {"dedicated_cpus": True})
    plan = place_on_hosts(service("rt", ("ctl", *pinned)), Policy(), inventory)
    assert roles(plan) == {"hv-02": (Role.HYPERVISOR, ("ctl",))}
    plan = place_on_hosts(service("rt", ("ctl", *pinned), ("ctl2", *pinned)), Policy(),
                          inventory)
    assert [u.workload for u in plan.unplaced] == ["ctl2"]
    assert plan.unplaced[0].reason.endswith(
        "site plant: no hypervisor with room for ctl2's VM (2 dedicated cores, 2Gi): hv-01 has"
        " 32 cores (0 of them pinnable) and 128Gi free for VMs; hv-02 has 2 cores (0 of them"
        " pinnable) and 14Gi free for VMs")


def test_a_service_keeps_its_hosts_when_placed_again():
    job = service("ot", ("job", "paf", 4, "16Gi", {}))
    first = place_on_hosts(job, Policy(), plant())
    assert roles(first) == {"small-01": (Role.BARE_METAL, ("job",))}  # the smallest that fits
    earlier = Usage(placements=recorded((first, job)).placements, hosts=(HostRole(
        site="plant", host="gpu-01", role=Role.BARE_METAL, service="ot", workloads=("job",)),))
    again = place_on_hosts(job, Policy(), plant(), running=earlier.of("ot"), taken=earlier)
    assert roles(again) == {"gpu-01": (Role.BARE_METAL, ("job",))}
    assert again.hosts == place_on_hosts(job, Policy(), plant(), running=earlier.of("ot"),
                                         taken=earlier).hosts  # deterministic


def test_another_service_s_hosts_are_not_offered_and_its_capacity_is_taken():
    first = place_on_hosts(OT, Policy(), plant())
    taken = recorded((first, OT))
    second = service("video", ("encoder", "paf", 2, "4Gi", {"gpus": 1}),
                     ("cache", "vaf", 8, "16Gi", {}), ("app", "caf", 2, "4Gi", {}))
    plan = place_on_hosts(second, Policy(), plant(), taken=taken)
    # the hypervisor is shared (the VIP's), bare metal and nodes are not
    assert roles(plan) == {"hv-01": (Role.HYPERVISOR, ("cache",))}
    unplaced = {u.workload: u.reason for u in plan.unplaced}
    assert unplaced["encoder"].endswith("rejected: 1 site(s): needs 1 GPU(s), 0 free")
    # the first service's cluster has room left: reused, with no host of its own
    assert "app" not in unplaced
    assert [(a.action, a.cluster) for a in plan.actions if a.kind is WorkloadKind.CAF] == [
        (ClusterAction.REUSE, "ot-plant-caf")]
    (site,) = free_capacity(plant(), taken)
    assert (site.free.cpu, site.free.gpus, site.free.hosts) == (32 - 4, 0, 0)


def test_a_bare_metal_workload_with_no_matching_host_is_unplaced_naming_site_and_host():
    big = service("big", ("render", "paf", 4, "16Gi", {"gpus": 2}))
    plan = place_on_hosts(big, Policy(), plant())
    (unplaced,) = plan.unplaced
    assert unplaced.workload == "render"
    assert "needs 2 GPU(s), 1 free" in unplaced.reason


def test_a_workload_without_a_host_at_its_first_site_goes_to_the_next():
    """The nearer site's one host is a hypervisor with a VM on it: the cluster goes on."""
    near, far = a_site("near", 48.1), a_site("far", 48.3)
    hv = a_host("hv-near", "near", cores=32, memory="128Gi", index=1)
    inventory = Inventory(sites=(near, far),
                          hosts=(hv, a_host("host-far", "far", cores=32, memory="128Gi",
                                            index=2)),
                          hypervisors=(a_hypervisor(hv),))
    vm = service("vm", ("db", "vaf", 2, "4Gi", {}))
    taken = recorded((place_on_hosts(vm, Policy(), inventory), vm))
    app = service("app", ("web", "caf", 2, "4Gi", {}))
    plan = place_on_hosts(app, Policy(), inventory, taken=taken)
    assert {a.workload: a.site for a in plan.assignments} == {"web": "far"}
    assert roles(plan) == {"host-far": (Role.KUBERNETES_NODE, ("app-far-caf",))}


def test_a_reused_cluster_claims_no_host():
    inventory = plant()
    site = inventory.sites[0].model_copy(update={"cluster": SiteCluster(
        name="plant-k8s", kubeconfig=__file__)})
    inventory = inventory.model_copy(update={"sites": (site,)})
    plan = place_on_hosts(service("app", ("web", "caf", 2, "4Gi", {})), Policy(), inventory)
    assert [(a.action.value, a.cluster) for a in plan.actions] == [("reuse", "plant-k8s")]
    assert plan.hosts == ()


def test_without_cluster_api_containers_go_only_where_a_cluster_runs():
    """A stack with no ClusterTemplate cannot make a cluster: the nearer site without one is
    not chosen, and with no cluster anywhere the workload is unplaced, saying why."""
    near, far = a_site("near", 48.1), a_site("far", 48.3)
    far = far.model_copy(update={"cluster": SiteCluster(name="far-k8s", kubeconfig=__file__)})
    inventory = Inventory(sites=(near, far), hosts=(
        a_host("host-near", "near", index=1), a_host("host-far", "far", index=2)))
    app = service("app", ("web", "caf", 2, "4Gi", {}))
    anywhere = place_on_hosts(app, Policy(), inventory)
    assert [(a.site, a.action.value) for a in anywhere.actions] == [("near", "create")]
    plan = place_on_hosts(app, Policy(), inventory, new_clusters=False)
    assert [(a.site, a.action.value, a.cluster) for a in plan.actions] == [
        ("far", "reuse", "far-k8s")]
    nowhere = inventory.model_copy(update={"sites": (near,), "hosts": inventory.hosts[:1]})
    (unplaced,) = place_on_hosts(app, Policy(), nowhere, new_clusters=False,
                                 explain=True).unplaced
    assert "no Kubernetes cluster, and none can be made (no Cluster API)" in unplaced.reason


def test_an_existing_cluster_takes_no_workload_needing_a_feature_it_does_not_declare():
    """The lab's case: the site's cluster declares no features, so a workload asking PTP of
    it is refused there, with the reason, and goes where a new cluster can give it PTP."""
    near, far = a_site("near", 48.1), a_site("far", 48.3)
    inventory = Inventory(
        sites=(near.model_copy(update={"cluster": SiteCluster(name="near-k8s",
                                                                kubeconfig=__file__)}), far),
        hosts=(a_host("ptp-near", "near", ptp=True, index=1),
               a_host("ptp-far", "far", ptp=True, index=2)))
    clock = service("clock", ("grandmaster", "caf", 2, "4Gi", {"ptp": True}))
    plan = place_on_hosts(clock, Policy(), inventory, explain=True)
    (placed,) = plan.assignments
    assert placed.site == "far"
    why = ("site near: its cluster near-k8s does not declare ptp (features: none), which"
           " grandmaster needs (2 cores, 4Gi, PTP)")
    assert {r.site: r.reason for r in placed.rejected} == {"near": why}
    alone = inventory.model_copy(update={"sites": inventory.sites[:1],
                                         "hosts": inventory.hosts[:1]})
    (unplaced,) = place_on_hosts(clock, Policy(), alone).unplaced
    assert why in unplaced.reason
    declared = alone.sites[0].model_copy(update={"cluster": alone.sites[0].cluster.model_copy(
        update={"features": ("ptp",)})})
    plan = place_on_hosts(clock, Policy(), alone.model_copy(update={"sites": (declared,)}))
    assert [(a.action.value, a.cluster) for a in plan.actions] == [("reuse", "near-k8s")]


def test_a_scaled_cluster_claims_as_many_hosts_as_nodes_it_adds():
    cluster = ClusterState(name="plant-k8s", site="plant", kind=WorkloadKind.CAF,
                           free=Capacity(cpu=1, memory=Quantity("1Gi")),
                           node=Capacity(cpu=8, memory=Quantity("32Gi")))
    plan = place_on_hosts(service("app", ("web", "caf", 4, "4Gi", {})), Policy(), plant(),
                          clusters=(cluster,))
    assert [(a.action.value, a.nodes) for a in plan.actions] == [("scale", 1)]
    assert roles(plan) == {"small-01": (Role.KUBERNETES_NODE, ("plant-k8s",))}


def line():
    """One site of three plain hosts, 4 cores each."""
    return Inventory(sites=(a_site("line"),), hosts=tuple(
        a_host(f"node-0{i}", "line", cores=4, memory="16Gi", index=i) for i in (1, 2, 3)))


def caf(name, *workloads):
    return service(name, *((w, "caf", 3, "4Gi", {}) for w in workloads))


def test_a_second_up_with_more_workloads_scales_the_service_s_cluster_keeping_its_nodes():
    first_request = caf("ot", "broker")
    first = place_on_hosts(first_request, Policy(), line())
    assert [(a.action, a.cluster, a.nodes) for a in first.actions] == [
        (ClusterAction.CREATE, "ot-line-caf", 1)]
    taken = recorded((first, first_request))
    same = place_on_hosts(first_request, Policy(), line(), running=taken.of("ot"), taken=taken)
    assert [(a.action, a.cluster) for a in same.actions] == [(ClusterAction.REUSE, "ot-line-caf")]
    assert same.hosts == first.hosts  # reused: its node stays its own
    more = caf("ot", "broker", "gateway")
    scaled = place_on_hosts(more, Policy(), line(), running=taken.of("ot"), taken=taken)
    assert [(a.action, a.cluster, a.nodes) for a in scaled.actions] == [
        (ClusterAction.SCALE, "ot-line-caf", 1)]
    assert roles(scaled) == {"node-01": (Role.KUBERNETES_NODE, ("ot-line-caf",)),
                             "node-02": (Role.KUBERNETES_NODE, ("ot-line-caf",))}


def test_another_service_reuses_a_cluster_with_room_but_never_scales_it():
    ot = caf("ot", "broker")
    taken = recorded((place_on_hosts(ot, Policy(), line()), ot))
    small = place_on_hosts(service("video", ("app", "caf", 1, "2Gi", {})), Policy(), line(),
                           taken=taken)
    assert [(a.action, a.cluster) for a in small.actions] == [
        (ClusterAction.REUSE, "ot-line-caf")]
    assert small.hosts == ()
    big = place_on_hosts(caf("video", "app"), Policy(), line(), taken=taken)
    assert [(a.action, a.cluster) for a in big.actions] == [
        (ClusterAction.CREATE, "video-line-caf")]
    assert set(roles(big)) == {"node-02"}


SIZES = st.tuples(st.sampled_from([8, 16, 32]), st.sampled_from(["32Gi", "64Gi"]),
                  st.integers(0, 1), st.booleans())
WORKLOAD = st.tuples(st.sampled_from(["caf", "vaf", "paf"]), st.sampled_from([1, 2, 4, 8]),
                     st.sampled_from(["2Gi", "8Gi", "16Gi"]), st.integers(0, 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts=st.lists(st.tuples(st.integers(0, 1), SIZES), min_size=1, max_size=5),
       first=st.lists(WORKLOAD, min_size=1, max_size=4),
       second=st.lists(WORKLOAD, min_size=1, max_size=4))
def test_two_services_never_share_a_host_s_role_nor_overbook_a_site(hosts, first, second):
    sites = (a_site("s0", 48.1), a_site("s1", 48.2))
    machines = tuple(a_host(f"h{i}", f"s{s}", cores=c, memory=m, gpus=g, index=i + 1)
                     for i, (s, (c, m, g, _)) in enumerate(hosts))
    hypervisors = tuple(a_hypervisor(h) for h, (_, (*_, hv)) in zip(machines, hosts,
                                                                      strict=True) if hv)
    inventory = Inventory(sites=sites, hosts=machines, hypervisors=hypervisors)

    def request(name, workloads):
        return service(name, *((f"{name}-{i}", kind, cpu, memory, {"gpus": gpus})
                               for i, (kind, cpu, memory, gpus) in enumerate(workloads)))

    one, two = request("one", first), request("two", second)
    plan_one = place_on_hosts(one, Policy(), inventory)
    taken = recorded((plan_one, one))
    plan_two = place_on_hosts(two, Policy(), inventory, taken=taken)
    both = recorded((plan_one, one), (plan_two, two))
    by_host: dict[str, set[Role]] = {}
    for held in both.hosts:
        by_host.setdefault(held.host, set()).add(held.role)
        if held.exclusive:
            assert [h.service for h in both.hosts if h.host == held.host] == [held.service]
    assert all(len(r) == 1 for r in by_host.values()), by_host
    caps = {h.name: h.capabilities for h in machines}
    for site in sites:  # whole hosts and VMs together within the site, in cores and memory
        held = [h for h in both.hosts if h.site == site.id]
        vms = [p.resources for p in both.placements if p.site == site.id
               and p.kind is WorkloadKind.VAF]
        for size in (lambda c: c.cores, lambda c: c.memory.bytes):
            whole = sum(size(caps[h.host]) for h in held if h.exclusive)
            assert whole + sum(size(Capabilities(cores=max(1, int(r.cpu)), memory=r.memory))
                               for r in vms) <= sum(size(c) for n, c in caps.items()
                                                    if n in {m.name for m in machines
                                                             if m.site == site.id})
    for held in both.hosts:  # a hypervisor's VMs fit on it; a new cluster's workloads too
        on_it = {w for h in both.hosts if h.host == held.host for w in h.workloads}
        if held.role is Role.HYPERVISOR:
            assert sum(p.resources.cpu for p in both.placements
                       if p.workload in on_it) <= caps[held.host].cores
    for cluster in {p.cluster for p in both.placements if p.kind is WorkloadKind.CAF}:
        nodes = {h.host for h in both.hosts if h.cluster == cluster}  # both services' use
        assert sum(caps[n].cores for n in nodes) >= sum(
            p.resources.cpu for p in both.placements if p.cluster == cluster)


def test_tcra_hosts_shows_each_host_s_role_and_owner(tmp_path, monkeypatch):
    from tcra import bmc
    from tcra.cli import app
    from tcra.mco.store import Store
    from tests.conftest import EXAMPLE

    url = f"sqlite:///{tmp_path / 'mco.db'}"
    store = Store(url)
    store.migrate()
    from tcra.inventory import load

    inventory = load(EXAMPLE)
    request = service("ot", ("inspect", "paf", 8, "32Gi", {"gpus": 1}))
    plan = place_on_hosts(request, Policy(), inventory)
    store.record_plan(plan, request)
    (held,) = plan.hosts
    monkeypatch.setattr(bmc, "power_states", lambda hosts: [
        bmc.PowerReading(host=h.name, site=h.site, bmc=h.bmc.address, power="On")
        for h in hosts])
    result = CliRunner().invoke(app, ["hosts", str(EXAMPLE), "--json", "--store", url])
    assert result.exit_code == 0, result.output
    rows = {r["host"]: r["roles"] for r in json.loads(result.output)}
    assert rows[held.host] == [{"role": "bare-metal", "service": "ot"}]
    assert sum(1 for r in rows.values() if r) == 1

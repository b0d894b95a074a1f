"""Each VM's share of its hypervisor (tcra.vip.share): pinned CPUs never given twice, the NUMA
node and hugepage size the host really has, VF networks, and a clear refusal of what the host
cannot give."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcra.errors import InvalidInputError
from tcra.mco.model import Resources, WorkloadKind, WorkloadRequest
from tcra.model import Capabilities, Quantity
from tcra.vip.share import share

HOST = Capabilities(
    cores=16, memory=Quantity("64Gi"), pinnable_cpus="2-7,10-15",
    hugepages=[{"size": "1Gi", "count": 8}, {"size": "2Mi", "count": 1024}],
    numa_nodes=[{"id": 0, "cpus": "0-7", "hugepages": [{"size": "1Gi", "count": 4},
                                                       {"size": "2Mi", "count": 512}]},
                {"id": 1, "cpus": "8-15", "hugepages": [{"size": "1Gi", "count": 4},
                                                        {"size": "2Mi", "count": 512}]}],
    sriov_nics=[{"name": "ens1f0", "vfs": 2, "network": "vf-a"},
                {"name": "ens1f1", "vfs": 2, "network": "vf-b"}])


def hypervisor(caps: Capabilities = HOST) -> tuple[str, Capabilities]:
    return "hv1", caps


def vm(cpu: float = 2, memory: str = "4Gi", *, pinned: bool = False, numa: bool = False,
       hugepages: bool = False, vfs: int = 0) -> Resources:
    return Resources(cpu=cpu, memory=Quantity(memory), dedicated_cpus=pinned,
                     single_numa_node=numa, sriov_vfs=vfs,
                     hugepages=Quantity(memory) if hugepages else Quantity(0))


def test_dedicated_cpus_numa_node_hugepages_and_vfs_come_from_the_host():
    given_ = share(*hypervisor(), {
        "upf": vm(4, "4Gi", pinned=True, numa=True, hugepages=True, vfs=3),
        "cu": vm(4, "3Gi", pinned=True, numa=True, hugepages=True),
        "fw": vm(2, "2Gi")})
    upf, cu, fw = given_["upf"], given_["cu"], given_["fw"]
    assert upf.pinning is not None and cu.pinning is not None
    # equal sizes go by name: cu first, on node 0 (3 of its 4 1Gi pages)
    assert (cu.pinning.cpus, cu.pinning.emulator_cpus, cu.numa_node) == ((2, 3, 4, 5),
                                                                       (0, 1), 0)
    assert cu.hugepages == Quantity("1Gi") and cu.vf_networks == ()
    # node 0 has 2 pinnable CPUs and one 1Gi page left: upf goes to node 1
    assert (upf.pinning.cpus, upf.pinning.emulator_cpus, upf.numa_node) == ((10, 11, 12, 13),
                                                                           (8, 9), 1)
    assert upf.hugepages == Quantity("1Gi") and upf.vf_networks == ("vf-a", "vf-a", "vf-b")
    assert (fw.pinning, fw.numa_node, fw.hugepages, fw.vcpus) == (None, None, None, 2)


def test_hugepages_the_size_the_host_reserves_2mi_when_1gi_do_not_fit():
    two_mi = Capabilities(cores=2, memory=Quantity("8Gi"),
                          hugepages=[{"size": "2Mi", "count": 256}])
    assert share(*hypervisor(two_mi), {"a": vm(1, "64Mi", hugepages=True)})[
        "a"].hugepages == Quantity("2Mi")
    # 1Gi pages do not divide 1536Mi: 2Mi pages back it
    assert share(*hypervisor(), {"a": vm(1, "1536Mi", hugepages=True)})[
        "a"].hugepages == Quantity("2Mi")


def test_what_the_host_cannot_give_is_refused_naming_workload_host_and_what_was_short():
    lab = Capabilities(cores=2, memory=Quantity("8Gi"), pinnable_cpus="1",
                       hugepages=[{"size": "2Mi", "count": 16}])
    with pytest.raises(InvalidInputError) as caught:
        share(*hypervisor(lab), {"big": vm(2, pinned=True), "huge": vm(1, "64Mi", hugepages=True),
                                "nic": vm(1, vfs=1), "near": vm(1, numa=True)})
    assert [str(p) for p in caught.value.problems] == [
        "hypervisor hv1: big.resources: the host has pinnable CPUs free: 1; free hugepages:"
        " 16 x 2Mi (got '2 dedicated CPU(s)')",
        "hypervisor hv1: huge.resources: the host has pinnable CPUs free: 1; free hugepages:"
        " 16 x 2Mi (got '64Mi on hugepages')",
        "hypervisor hv1: near.resources.single_numa_node: the host's NUMA layout is not in the"
        " inventory (capabilities.numa_nodes) (got True)",
        "hypervisor hv1: nic.resources.sriov_vfs: the host has 0 SR-IOV VF(s) left (got 1)"]
    nameless = lab.model_copy(update={"sriov_nics": (
        HOST.sriov_nics[0].model_copy(update={"network": None}),)})
    with pytest.raises(InvalidInputError, match=r"nic\.resources\.sriov_vfs: the host's physical"
                       r" functions with VFs left name no libvirt network"):
        share(*hypervisor(nameless), {"nic": vm(1, vfs=1)})


def test_the_inventory_s_cpu_layout_is_checked():
    with pytest.raises(ValueError, match=r"pinnable_cpus: expected CPUs 0 to 1 \(cores\), got 2-3"):
        Capabilities(cores=2, memory=Quantity("1Gi"), pinnable_cpus="1-3")
    with pytest.raises(ValueError, match=r"numa_nodes\.1\.cpus: CPUs 1 are on another node too"):
        Capabilities(cores=2, memory=Quantity("1Gi"),
                     numa_nodes=[{"id": 0, "cpus": "0-1"}, {"id": 1, "cpus": [1]}])
    with pytest.raises(ValueError, match="expected the nodes' hugepages to add up to the host's"):
        Capabilities(cores=2, memory=Quantity("4Gi"), hugepages=[{"size": "2Mi", "count": 4}],
                     numa_nodes=[{"id": 0, "cpus": "0-1"}])
    with pytest.raises(ValueError, match="cpuset"):
        Capabilities(cores=2, memory=Quantity("1Gi"), pinnable_cpus="3-1")
    assert HOST.model_dump(mode="json")["pinnable_cpus"] == "2-7,10-15"


def test_requests_a_vm_cannot_be_given_are_refused():
    with pytest.raises(ValueError, match=r"cpu: dedicated CPUs are whole.*got 1\.5"):
        Resources(cpu=1.5, memory=Quantity("1Gi"), dedicated_cpus=True)
    with pytest.raises(ValueError, match=r"hugepages: a VM's memory is backed by hugepages"
                       r" whole, expected 0 or its memory \(8Gi\), got 4Gi"):
        WorkloadRequest(name="upf", kind=WorkloadKind.VAF, resources=Resources(
            cpu=1, memory=Quantity("8Gi"), hugepages=Quantity("4Gi")))
    # A container's dedicated CPUs come from its cluster's kubelet, a feature it asks for.
    app = WorkloadRequest(name="app", resources=vm(1, pinned=True, numa=True))
    assert app.resources.cluster_features == ("dedicated-cpus", "single-numa-node")


@given(st.lists(st.tuples(st.integers(1, 6), st.booleans(), st.booleans(), st.booleans()),
                max_size=8))
def test_no_host_cpu_is_pinned_twice_and_the_result_does_not_depend_on_order(asked):
    vms = {f"vm{i}": vm(cpu, "2Gi", pinned=pinned, numa=numa, hugepages=pages)
           for i, (cpu, pinned, numa, pages) in enumerate(asked)}
    try:
        shares = share(*hypervisor(), vms)
    except InvalidInputError as refused:
        assert all(p.where == "hypervisor hv1" and p.field.split(".")[0] in vms
                   for p in refused.problems)
        return
    pinned = [c for s in shares.values() if s.pinning for c in s.pinning.cpus]
    assert len(pinned) == len(set(pinned)) and set(pinned) <= set(HOST.pinnable_cpus)
    for name, got in shares.items():
        assert (got.pinning is not None) == vms[name].dedicated_cpus
        if got.pinning and got.numa_node is not None:
            node = next(n for n in HOST.numa_nodes if n.id == got.numa_node)
            assert set(got.pinning.cpus) <= set(node.cpus)
    assert share(*hypervisor(), dict(reversed(vms.items()))) == shares

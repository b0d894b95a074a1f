"""A VM workload's telco features on the lab's libvirtd: the share of the lab hypervisor that
tcra.vip.share gives from the lab's own inventory (dedicated CPU, NUMA node, hugepages) lands
in the live domain; a second VM asking for the same dedicated CPU, and a VF NIC on a machine
with no SR-IOV VFs, are refused at check with the reason."""

import libvirt
import pytest
from tcra.providers.virtual_machine import VirtualMachineProvider

from tcra.inventory import load
from tcra.lab import vip
from tcra.lab.inventory_writer import HYPERVISOR
from tcra.lab.nodes import pool_name
from tcra.mco.model import Resources
from tcra.model import Quantity
from tcra.ownership import owner_text
from tcra.vip.domain_xml import facts
from tcra.vip.share import share
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
URI = "qemu:///system"
OWNER = owner_text("tests", "lab", "vmshare", "0" * 32)
UPF = Resources(cpu=1, memory=Quantity("64Mi"), hugepages=Quantity("64Mi"),
                dedicated_cpus=True, single_numa_node=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("vmshare"), "citshare", nodes=1) as spec:
        yield spec


def props(lab, name: str, given, **changes) -> dict:
    wanted = {
        "name": name, "uri": URI, "vcpus": given.vcpus, "memory": "64Mi",
        "pinning": given.pinning.model_dump(mode="json") if given.pinning else None,
        "numa_node": given.numa_node,
        "hugepages": str(given.hugepages) if given.hugepages else None,
        "disks": [{"pool": pool_name(lab), "size": "32Mi",
                   "base_image": vip.base_image_name(lab)}],
        "interfaces": [{"network": vip.network_name(lab)}],
        "shutdown_timeout": 1, "owner": OWNER,
    }
    return {**wanted, **changes}


def test_the_share_of_the_lab_hypervisor_is_live_and_a_second_claim_is_refused(lab):
    caps = load(lab.inventory).hypervisor(HYPERVISOR).capabilities
    given = share(HYPERVISOR, caps, {"upf": UPF})["upf"]
    # the lab's inventory tells the truth about this machine: CPU 0 keeps the host
    assert given.pinning is not None and given.pinning.cpus == (1,)
    assert given.pinning.emulator_cpus == (0,) and given.numa_node == 0
    assert given.hugepages == Quantity("2Mi")  # the lab reserves 2Mi pages, no 1Gi
    provider = VirtualMachineProvider()
    wanted = props(lab, "citshare-upf", given)
    assert provider.check({}, wanted).failures == []
    created = provider.create(wanted)
    try:
        conn = libvirt.open(URI)
        try:
            xml = conn.lookupByName("citshare-upf").XMLDesc(0)
        finally:
            conn.close()
        live = facts(xml)
        assert live.vcpu_pins == {"0": "1"} and live.emulator_pin == "0"
        assert live.hugepage_kib == 2048
        assert "<memory mode='strict' nodeset='0'/>" in xml
        # another VM given the same dedicated CPU (another plan's share) is refused at check
        again = props(lab, "citshare-other", given)
        [failure] = provider.check({}, again).failures
        assert failure.property == "pinning.cpus"
        assert ("expected host CPUs no running domain pins its vCPUs to (dedicated), pinned"
                " already: CPU 1 by citshare-upf (got [1])") in failure.reason
        # the VM's own check (a later preview of the same stack) sees no peer in itself
        assert provider.check(created.outs, wanted).failures == []
    finally:
        provider.delete(created.id, created.outs)


def test_vf_nics_on_a_machine_without_sr_iov_are_refused_at_check_never_dropped(lab):
    given = share(HYPERVISOR, load(lab.inventory).hypervisor(HYPERVISOR).capabilities,
                  {"fw": Resources(cpu=1, memory=Quantity("64Mi"))})["fw"]
    wanted = props(lab, "citshare-vf", given, interfaces=[
        {"network": vip.network_name(lab)}, {"vf_network": "vf-ens1f0"}])
    [failure] = VirtualMachineProvider().check({}, wanted).failures
    assert failure.property == "interfaces.1.vf_network"
    assert failure.reason.startswith("VirtualMachine citshare-vf: interfaces.1.vf_network:"
                                     " expected a libvirt network of SR-IOV VFs (forward"
                                     " mode='hostdev' over a physical function)")
    assert "its SR-IOV VFs: 0" in failure.reason and "(got 'vf-ens1f0')" in failure.reason
    # a network that is no VF network is refused too, naming its mode
    nat = props(lab, "citshare-vf", given, interfaces=[{"vf_network": vip.network_name(lab)}])
    [failure] = VirtualMachineProvider().check({}, nat).failures
    assert "expected a network of forward mode 'hostdev' (SR-IOV VFs), its mode is" in (
        failure.reason)

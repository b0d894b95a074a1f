"""The VIP without a hypervisor: the spec's checks, the domain XML (parsed by libvirt's test
driver), the seed's files and VMCluster's placement under mocks."""

import libvirt
import pulumi
import pytest

from tcra.errors import InvalidInputError
from tcra.model import Capabilities, Hypervisor, Quantity
from tcra.ownership import owner_text
from tcra.vip import (
    CloudInit,
    Disk,
    Interface,
    MachineShape,
    Pinning,
    VirtualMachineSpec,
    domain_xml,
    seed,
)
from tests.unit.test_physical_pool import Mocks

OWNER = owner_text("tests", "unit", "vm1", "a" * 32)

SHAPE = {"vcpus": 2, "memory": "128Mi", "hugepages": "2Mi",
         "pinning": {"cpus": [0, 1], "emulator_cpus": [0]},
         "disks": [{"pool": "default", "size": "1Gi", "base_image": "base.img"}],
         "interfaces": [{"network": "default", "mac": "52:54:00:00:00:01"}]}


def errors(**fields) -> str:
    with pytest.raises(ValueError) as caught:
        VirtualMachineSpec.model_validate({"name": "vm1", **fields})
    return str(caught.value)


def test_bad_input_names_the_field_the_value_and_what_was_expected():
    assert "memory: expected a multiple of the hugepage size 2Mi, got 3Mi" in errors(
        memory="3Mi", hugepages="2Mi")
    assert "hugepages: expected 2Mi or 1Gi, got 4Mi" in errors(memory="8Mi", hugepages="4Mi")
    assert "pinning.cpus: expected one host CPU for each of the 2 vCPUs, got 1" in errors(
        vcpus=2, pinning={"cpus": [0]})
    assert "expected a domain name" in errors(name="Web_1")
    assert ("expected exactly one of network, bridge, vf or vf_network; got network, bridge"
            in errors(interfaces=[{"network": "a", "bridge": "b"}]))
    assert "vlan is set on SR-IOV VFs (vf, vf_network) only" in errors(
        interfaces=[{"network": "a", "vlan": 7}])
    assert 'expected a PCI address like "0000:3b:02.1"' in errors(interfaces=[{"vf": "3b:02.1"}])
    assert "max_vcpus: expected at least vcpus (4), got 2" in errors(vcpus=4, max_vcpus=2)
    assert "cloud_init: the seed is stored in the first disk's pool" in errors(
        cloud_init={"ssh_authorized_keys": ["ssh-ed25519 AAAA x"]})


def test_rendered_xml_is_accepted_by_libvirt_and_reads_back():
    spec = VirtualMachineSpec(name="vm1", virt_type="qemu", vcpus=1, max_vcpus=2,
                              memory="64Mi", max_memory="128Mi",
                              pinning=Pinning(cpus=(1, 0), emulator_cpus=(0,)))
    xml = domain_xml.render(spec, {}, OWNER)
    conn = libvirt.open("test:///default")
    try:
        live = domain_xml.facts(conn.defineXML(xml).XMLDesc(0))
    finally:
        conn.close()
    assert live.shape == domain_xml.shape_digest(spec)
    assert live.owner == OWNER
    assert (live.vcpus, live.max_vcpus) == (1, 2)
    assert (live.memory_kib, live.max_memory_kib) == (65536, 131072)
    assert live.vcpu_pins == {"0": "1", "1": "0"}
    assert live.emulator_pin == "0"


def test_every_device_kind_is_rendered_from_the_spec():
    spec = VirtualMachineSpec.model_validate({
        "name": "vm1", **SHAPE,
        "interfaces": [*SHAPE["interfaces"], {"bridge": "br0"},
                       {"vf": "0000:3b:02.1", "vlan": 100}, {"vf_network": "vf-ens1f0"}],
        "cloud_init": {"ssh_authorized_keys": ["ssh-ed25519 AAAA x"]}})
    xml = domain_xml.render(spec, {"vm1-root": "qcow2"}, OWNER)
    assert '<page size="2048" unit="KiB" />' in xml
    assert '<source pool="default" volume="vm1-root" />' in xml
    assert '<driver name="qemu" type="qcow2" />' in xml
    assert '<source pool="default" volume="vm1-seed.iso" />' in xml
    assert '<source bridge="br0" />' in xml
    assert ('<address type="pci" domain="0x0000" bus="0x3b" slot="0x02" function="0x1" />'
            in xml)
    assert '<tag id="100" />' in xml
    # a VF the network hands out: type network, no virtio model (the VF is the device)
    assert '<interface type="network"><source network="vf-ens1f0" /></interface>' in xml
    assert domain_xml.facts(xml).macs == ("52:54:00:00:00:01",)


def test_markup_in_values_stays_text():
    spec = VirtualMachineSpec.model_validate({**SHAPE, "name": "vm1", "disks": [
        {"pool": "p'/><evil x='", "size": "1Gi"}]})
    xml = domain_xml.render(spec, {}, OWNER)
    assert "<evil" not in xml and "&lt;evil" in xml


def test_the_shape_digest_ignores_what_changes_in_place():
    spec = VirtualMachineSpec.model_validate({"name": "vm1", **SHAPE})
    grown = spec.model_copy(update={"vcpus": 1, "memory": Quantity("64Mi"), "running": False})
    moved = spec.model_copy(update={"pinning": Pinning(cpus=(1, 1))})
    assert domain_xml.shape_digest(grown) == domain_xml.shape_digest(spec)
    assert domain_xml.shape_digest(moved) != domain_xml.shape_digest(spec)


def test_seed_carries_host_name_keys_user_and_network_config():
    cloud_init = CloudInit(user_data="#cloud-config\nruncmd: [true]\n",
                           ssh_authorized_keys=("ssh-ed25519 AAAA me",),
                           network_config={"version": 2, "ethernets": {"eth0": {"dhcp6": True}}})
    files = seed.documents("vm1", cloud_init)
    assert files["meta-data"] == (b"instance-id: vm1\nlocal-hostname: vm1\n"
                                  b"public-keys:\n- ssh-ed25519 AAAA me\n")
    assert files["user-data"] == b"#cloud-config\nruncmd: [true]\n"
    assert b"dhcp6: true" in files["network-config"]
    image = seed.iso("vm1", cloud_init)
    assert image[0x8000:0x8006] == b"\x01CD001"  # an ISO 9660 primary volume descriptor
    assert image[0x8028:0x8028 + 6] == b"cidata"


def hypervisors(count: int) -> tuple[Hypervisor, ...]:
    return tuple(Hypervisor(name=f"hv{i}", site="s1", libvirt_uri=f"qemu+ssh://hv{i}/system",
                            capabilities=Capabilities(cores=8, memory=Quantity("32Gi")))
                 for i in range(count))


def test_cluster_spreads_vms_and_scaling_keeps_the_survivors():
    from tcra.components.vm_cluster import VMClusterArgs, placement

    machine = MachineShape(memory=Quantity("64Mi"), disks=(Disk(pool="p", size="1Gi"),))
    three = placement("edge", VMClusterArgs(hypervisors=hypervisors(2), count=3,
                                            machine=machine))
    assert [(vm.name, vm.uri) for vm in three] == [
        ("edge-0", "qemu+ssh://hv0/system"), ("edge-1", "qemu+ssh://hv1/system"),
        ("edge-2", "qemu+ssh://hv0/system")]
    five = placement("edge", VMClusterArgs(hypervisors=hypervisors(2), count=5, machine=machine))
    assert five[:3] == three
    with pytest.raises(InvalidInputError, match="VMCluster Edge_VM: name: expected a domain"):
        placement("Edge_VM", VMClusterArgs(hypervisors=hypervisors(1), count=2, machine=machine))


def test_cluster_declares_one_vm_per_index_with_host_outputs():
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    from tcra import VMCluster, VMClusterArgs

    @pulumi.runtime.test
    def check():
        cluster = VMCluster("edge", VMClusterArgs(
            hypervisors=hypervisors(3), count=3,
            machine=MachineShape(memory=Quantity("64Mi"), disks=(Disk(pool="p", size="1Gi"),),
                                 interfaces=(Interface(network="n"),),
                                 cloud_init=CloudInit(user_data="#cloud-config\n{}\n"))))

        def verify(vms):
            assert [(vm["name"], vm["host"]) for vm in vms] == [
                ("edge-0", "hv0"), ("edge-1", "hv1"), ("edge-2", "hv2")]
            assert mocks.created["edge-1"]["uri"] == "qemu+ssh://hv1/system"

        return cluster.vms.apply(verify)

    check()

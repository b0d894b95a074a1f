"""stacks/vm-lab through a real Pulumi engine on the lab: 3 pinned, hugepage-backed VMs; scale
3 -> 5 -> 2 leaves the survivors untouched; a VM destroyed by hand is refreshed and repaired;
destroy leaves no domain or volume."""

import json
import re

import libvirt
import pytest

from tcra.lab import vip
from tcra.lab.nodes import pool_name
from tests.e2e.test_pim_stack import pulumi_project
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]


@pytest.fixture(scope="module")
def lab_and_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("vm-stack")
    with running_lab(root, "citvms", nodes=1) as spec, pulumi_project(
            root, "vm-lab", {"inventory": str(spec.inventory), "count": "3",
                             "pool": pool_name(spec), "network": vip.network_name(spec),
                             "base_image": vip.base_image_name(spec)}) as run:
        yield spec, run


def domains() -> dict[str, tuple[str, bool]]:
    conn = libvirt.open("qemu:///system")
    try:
        return {d.name(): (d.UUIDString(), bool(d.isActive())) for d in conn.listAllDomains()
                if d.name().startswith("edge-vm-")}
    finally:
        conn.close()


# Tests run in random order: each one first brings the stack to the state it starts from.


def up_with(pulumi, count: int) -> None:
    pulumi("config", "set", "count", str(count))
    pulumi("up", "--yes")


def test_three_pinned_hugepage_vms_come_up_and_a_rerun_changes_nothing(lab_and_stack):
    _spec, pulumi = lab_and_stack
    pulumi("destroy", "--yes")
    pulumi("config", "set", "count", "3")
    # the stack, its owner identity, the cluster and 3 VMs
    assert "+ 6 to create" in pulumi("preview").stdout
    pulumi("up", "--yes")
    vms = json.loads(pulumi("stack", "output", "vms", "--json").stdout)
    assert [(vm["name"], vm["host"], vm["state"]) for vm in vms] == [
        (f"edge-vm-{i}", "lab-hypervisor", "running") for i in range(3)]
    conn = libvirt.open("qemu:///system")
    try:
        xml = conn.lookupByName("edge-vm-0").XMLDesc(0)
    finally:
        conn.close()
    assert "<vcpupin vcpu='0' cpuset='1'/>" in xml and "<page size='2048' unit='KiB'/>" in xml
    pulumi("preview", "--expect-no-changes")


def test_scaling_out_and_in_keeps_the_survivors_untouched(lab_and_stack):
    _spec, pulumi = lab_and_stack
    up_with(pulumi, 3)
    before = domains()
    up_with(pulumi, 5)
    after_out = domains()
    assert sorted(after_out) == [f"edge-vm-{i}" for i in range(5)]
    assert {n: after_out[n] for n in before} == before
    up_with(pulumi, 2)
    after_in = domains()
    assert after_in == {n: before[n] for n in ("edge-vm-0", "edge-vm-1")}


def test_a_vm_destroyed_by_hand_is_refreshed_and_repaired(lab_and_stack):
    _spec, pulumi = lab_and_stack
    up_with(pulumi, 2)
    conn = libvirt.open("qemu:///system")
    try:
        conn.lookupByName("edge-vm-1").destroy()
    finally:
        conn.close()
    assert "~ 1 updated" in pulumi("refresh", "--yes").stdout
    assert pulumi("preview", "--expect-no-changes", check=False).returncode != 0
    pulumi("up", "--yes")
    assert domains()["edge-vm-1"][1] is True
    pulumi("preview", "--expect-no-changes")


def test_destroy_leaves_no_domain_or_volume(lab_and_stack):
    spec, pulumi = lab_and_stack
    up_with(pulumi, 2)
    assert domains()
    pulumi("destroy", "--yes")
    assert domains() == {}
    conn = libvirt.open("qemu:///system")
    try:
        volumes = {v.name() for v in conn.storagePoolLookupByName(pool_name(spec))
                   .listAllVolumes()}
    finally:
        conn.close()
    assert volumes == {vip.base_image_name(spec)}


def test_a_second_stack_of_the_program_can_neither_take_nor_destroy_the_first_ones_vms(
        lab_and_stack, tmp_path):
    spec, pulumi = lab_and_stack
    up_with(pulumi, 2)
    before = domains()
    # the same project, stack and resource names, with a backend of its own
    with pulumi_project(tmp_path, "vm-lab", {
            "inventory": str(spec.inventory), "count": "2", "pool": pool_name(spec),
            "network": vip.network_name(spec),
            "base_image": vip.base_image_name(spec)}) as other:
        taken = other("up", "--yes", check=False)
        assert taken.returncode != 0
        assert re.search(r"domain edge-vm-\d at qemu:///system belongs to"
                         r" tcra-vm-lab/lab/edge-vm-\d@[0-9a-f]{32}; it was left untouched",
                         taken.stdout + taken.stderr), taken.stdout + taken.stderr
        other("destroy", "--yes")
    assert domains() == before
    pulumi("preview", "--expect-no-changes")

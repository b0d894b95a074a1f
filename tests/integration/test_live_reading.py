"""The live resource repository read from a real lab: a node powered on over Redfish reads
On and is no longer free bare metal, a VM on the lab's libvirtd takes the hugepages it uses
from the hypervisor's reading (once, recorded or not). The machine's hugepages are read, so
the module runs alone (test_live_cluster_reading reads the Kubernetes lab's room)."""


import pytest
import sushy
from tcra.providers.virtual_machine import VirtualMachineProvider

from tcra.bmc import session, system_path, target_of
from tcra.inventory import load
from tcra.lab.inventory_writer import HYPERVISOR, HYPERVISOR_SITE
from tcra.mco.live import read
from tcra.mco.model import (
    HostRole,
    LiveReading,
    Placement,
    Resources,
    Role,
    Usage,
    WorkloadKind,
)
from tcra.mco.repository import free_capacity
from tcra.model import Host, Quantity
from tcra.ownership import owner_text
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
OWNER = owner_text("tests", "live", "vm", "0" * 32)
MI = 2**20


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("live"), "citlive", nodes=2) as spec:
        yield spec


def power(host: Host, kind: sushy.ResetType) -> None:
    with session(target_of(host)) as bmc:
        bmc.write(lambda root: root.get_system(system_path(root, host.bmc.system_id))
                  .reset_system(kind))


def free_at(reading: LiveReading, inventory, site: str, taken: Usage | None = None):
    return next(s.free for s in free_capacity(inventory, taken or Usage(), reading)
                if s.site.id == site)


def test_a_node_powered_on_over_redfish_reads_on_and_is_no_longer_free_bare_metal(lab):
    inventory = load(lab.inventory)
    first = read(inventory)
    assert first.powered_on == frozenset()  # the lab defines its nodes shut off
    assert [h.hypervisor for h in first.hypervisors] == [HYPERVISOR]
    assert first.clusters == ()  # a lab without Kubernetes: no site cluster
    host = inventory.hosts[0]
    power(host, sushy.ResetType.ON)
    try:
        seen = read(inventory)
        assert seen.powered_on == frozenset({host.name})
        assert free_at(seen, inventory, host.site).hosts == \
            free_at(first, inventory, host.site).hosts - 1
        held = Usage(hosts=(HostRole(site=host.site, host=host.name, role=Role.BARE_METAL,
                                     service="other", workloads=("w",)),))
        # held by a record: it leaves once, whether the BMC reports it on or not (the
        # hypervisor's memory reading moves with the running domain: not compared here)
        on, off = (free_at(r, inventory, host.site, held) for r in (seen, first))
        assert (on.hosts, on.cpu, on.gpus) == (off.hosts, off.cpu, off.gpus)
    finally:
        power(host, sushy.ResetType.FORCE_OFF)
    assert read(inventory).powered_on == frozenset()


def test_a_vm_on_hugepages_takes_them_from_the_hypervisor_reading_once(lab):
    inventory = load(lab.inventory)
    provider = VirtualMachineProvider()
    wanted = {"name": "citlive-vm", "uri": lab.libvirt_uri, "vcpus": 1, "memory": "64Mi",
              "hugepages": "2Mi", "shutdown_timeout": 1, "owner": OWNER}
    assert provider.check({}, wanted).failures == []
    before = read(inventory)
    created = provider.create(wanted)
    try:
        during = read(inventory)
        (was,), (now,) = before.hypervisors, during.hypervisors
        assert was.hugepages.bytes - now.hugepages.bytes == 64 * MI
        assert now.memory.bytes > 0
        site_before = free_at(before, inventory, HYPERVISOR_SITE)
        assert free_at(during, inventory, HYPERVISOR_SITE).hugepages.bytes == \
            site_before.hugepages.bytes - 64 * MI
        # recorded for another service, the same VM is not taken twice
        recorded = Usage(
            placements=(Placement(service="other", workload="vm", site=HYPERVISOR_SITE,
                                  kind=WorkloadKind.VAF, resources=Resources(
                                      cpu=1, memory=Quantity("64Mi"),
                                      hugepages=Quantity("64Mi"))),),
            hosts=(HostRole(site=HYPERVISOR_SITE, host=HYPERVISOR, role=Role.HYPERVISOR,
                            service="other", workloads=("vm",)),))
        assert free_at(during, inventory, HYPERVISOR_SITE, recorded).hugepages == \
            free_at(during, inventory, HYPERVISOR_SITE).hugepages
    finally:
        provider.delete(created.id, created.outs)
    (after,) = read(inventory).hypervisors
    assert after.hugepages == was.hugepages

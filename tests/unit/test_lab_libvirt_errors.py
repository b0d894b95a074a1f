"""The lab reads a libvirt object as absent only when libvirt says it does not exist; any other
libvirt error (here a real one: a connection that is no longer open) stops the lab with one
line naming the object. Runs on libvirt's own in-process test driver."""

from collections.abc import Callable, Iterator

import libvirt
import pytest

from tcra.lab import nodes, vip
from tcra.lab.hypervisor import connect, session
from tcra.lab.processes import LabError
from tcra.lab.spec import LabSpec

SPEC = LabSpec(name="unit")
NODE = nodes.node_name(SPEC, 0)
STEPS: dict[str, tuple[Callable[[libvirt.virConnect], object], str]] = {
    "power_state": (lambda conn: nodes.power_state(conn, NODE), f"node {NODE}"),
    "remove": (lambda conn: nodes.remove(conn, NODE), f"node {NODE}"),
    "ensure_pool": (lambda conn: nodes.ensure_pool(conn, SPEC), "storage pool tcra-unit-pool"),
    "remove_pool": (lambda conn: nodes.remove_pool(conn, SPEC), "storage pool tcra-unit-pool"),
    "remove_network": (lambda conn: vip.remove_network(conn, SPEC), "network tcra-unit-net"),
}


@pytest.fixture
def conn() -> Iterator[libvirt.virConnect]:
    opened = connect("test:///default")
    yield opened
    opened.close()


def test_objects_libvirt_does_not_know_are_absent(conn):
    assert nodes.power_state(conn, NODE) == "missing"
    nodes.remove(conn, NODE)
    nodes.remove_pool(conn, SPEC)
    vip.remove_network(conn, SPEC)
    assert [d.name() for d in conn.listAllDomains()] == ["test"]  # nothing else was touched


@pytest.mark.parametrize("step", sorted(STEPS))
def test_any_other_libvirt_error_names_the_object_and_the_cause(step):
    call, what = STEPS[step]
    conn = connect("test:///default")
    conn.close()
    with pytest.raises(LabError) as caught:
        call(conn)
    assert str(caught.value) == f"{what}: libvirt: invalid connection pointer in " + {
        "node": "virDomainLookupByName", "storage": "virStoragePoolLookupByName",
        "network": "virNetworkLookupByName"}[what.split()[0]]


def test_a_lab_step_turns_a_raw_libvirt_error_into_one_line():
    with pytest.raises(LabError, match=r"^libvirt at test:///default: operation failed: .*"
                                       r"'test' already exists"), \
            session("test:///default") as conn:
        conn.defineXML("<domain type='test'><name>test</name><memory>1024</memory>"
                       "<os><type>hvm</type></os></domain>")

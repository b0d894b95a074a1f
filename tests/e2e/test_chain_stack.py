"""stacks/chain-lab through a real Pulumi engine on the lab: the chain is programmed, users'
traffic crosses it, a route deleted by hand is reported and repaired, destroy cuts the service."""

import subprocess

import pytest

from tcra.lab.spec import load_state
from tcra.tcm import kernel
from tests.e2e.test_pim_stack import pulumi_project
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, needs_lab]


@pytest.fixture(scope="module")
def lab_and_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain-stack")
    with running_lab(root, "citchain", nodes=1) as spec:
        state = load_state(spec)
        with pulumi_project(root, "chain-lab", {"inventory": str(spec.inventory),
                                                 "service": state.fabric.service_prefix}) as run:
            yield state, run


def reachable(state) -> bool:
    ping = subprocess.run(["ip", "netns", "exec", state.fabric.user_namespace, "ping", "-c", "2",
                           "-i", "0.2", "-W", "1", state.fabric.service_address],
                          capture_output=True, timeout=30)
    return ping.returncode == 0


# Tests run in random order: each one first brings the stack to the state it starts from.


def test_up_programs_the_chain_and_traffic_crosses_it(lab_and_stack):
    state, pulumi = lab_and_stack
    pulumi("destroy", "--yes")
    assert not reachable(state)  # without the chain the service prefix is not routed
    pulumi("up", "--yes")
    assert reachable(state)
    path = pulumi("stack", "output", "path").stdout
    assert "fw @ lab_factory" in path and "upf @ lab_faredge" in path
    assert path.index("fw @") < path.index("upf @") < path.index("app @")
    pulumi("preview", "--expect-no-changes")


def test_a_route_deleted_by_hand_is_refreshed_and_repaired(lab_and_stack):
    state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    factory = state.fabric.fabric.hbr("lab_factory")
    (sid,) = [r for r in kernel.read(factory.namespace) if r.behaviour.value == "End.DX6"]
    subprocess.run(["ip", "-n", factory.namespace, "-6", "route", "del", str(sid.dst)],
                   check=True)
    assert not reachable(state)
    pulumi("refresh", "--yes")
    assert pulumi("preview", "--expect-no-changes", check=False).returncode != 0
    pulumi("up", "--yes")
    assert reachable(state)


def test_destroy_removes_every_route_it_added(lab_and_stack):
    state, pulumi = lab_and_stack
    pulumi("up", "--yes")
    assert reachable(state)
    pulumi("destroy", "--yes")
    assert not reachable(state)
    for namespace in state.fabric.namespaces:
        assert kernel.read(namespace) == [], namespace

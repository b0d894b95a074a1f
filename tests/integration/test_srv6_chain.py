"""SRv6 chains in the lab fabric, proven on the data plane: real packets from the users'
namespace cross the chain's functions in order, follow a changed chain, and stop when it goes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tcra.providers.srv6_routes import HbrRoutesProvider, HbrRoutesSpec

from tcra.lab.spec import load_state
from tcra.model.fabric import Chain
from tcra.ownership import owner_text
from tcra.tcm import kernel
from tcra.tcm.compute import compute
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, needs_lab]
SNIFF = str(Path(__file__).with_name("sniff.py"))
OWNER = owner_text("tests", "tcm", "web", "0" * 32)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("tcm"), "citcm", nodes=1) as spec:
        yield load_state(spec)


def chain(lab, *functions):
    return Chain(name="web", ingress=lab.fabric.users_hbr, destination=lab.fabric.service_prefix,
                 functions=functions, egress="app")


def program(lab, wanted, previous=None):
    """Apply a chain the way SRv6Chain's resources do: one HbrRoutes per HBR."""
    provider = HbrRoutesProvider()
    outs = {}
    plan = compute(lab.fabric.fabric, wanted)
    before = previous or {}
    for config in plan.hbrs:
        props = {**HbrRoutesSpec(chain=wanted.name, hbr=config.hbr, namespace=config.namespace,
                                 interfaces=config.interfaces,
                                 routes=config.routes).model_dump(mode="json"), "owner": OWNER}
        if config.hbr in before:
            outs[config.hbr] = provider.update("id", before[config.hbr], props).outs
        else:
            outs[config.hbr] = provider.create(props).outs
    for hbr, old in before.items():
        if hbr not in outs:
            provider.delete("id", old)
    return plan, outs


def traffic(lab, count=3, inside=None):
    """Ping the service from the users while every workload listens on its eth0; what each
    one saw. `inside`: workload -> the command that enters its network namespace; default:
    the lab fabric's workload namespaces."""
    if inside is None:
        inside = {w: ["ip", "netns", "exec", namespace]
                  for w, namespace in lab.fabric.workload_namespaces.items()}
    sniffers = {}
    for workload, enter in inside.items():
        sniffers[workload] = subprocess.Popen([*enter, sys.executable, SNIFF, "eth0", "4"],
                                              stdout=subprocess.PIPE, text=True)
    for process in sniffers.values():
        assert process.stdout.readline().strip() == "ready"
    ping = subprocess.run(["ip", "netns", "exec", lab.fabric.user_namespace, "ping", "-c",
                           str(count), "-i", "0.2", "-W", "1", lab.fabric.service_address],
                          capture_output=True, text=True, timeout=30)
    seen = {}
    for workload, process in sniffers.items():
        out, _ = process.communicate(timeout=10)
        seen[workload] = [json.loads(line) for line in out.splitlines()]
    return ping.returncode == 0, seen


def srv6_destinations(packets):
    return {p["dst"] for p in packets if p["srh"] is not None}


def test_packets_cross_the_functions_in_order_then_follow_a_shorter_chain(lab):
    plan, outs = program(lab, chain(lab, "fw", "upf"))
    sid = {w: str(s) for w, s in plan.sids.items()}
    reached, seen = traffic(lab)
    assert reached
    # At each function the packet is already headed for the next hop: fw -> upf -> app.
    assert srv6_destinations(seen["fw"]) == {sid["upf"]}
    assert srv6_destinations(seen["upf"]) == {sid["app"]}
    assert {p["dst"] for p in seen["app"]} == {lab.fabric.service_address}

    shorter, outs = program(lab, chain(lab, "fw"), previous=outs)
    assert shorter.sids["fw"] == plan.sids["fw"] and shorter.sids["app"] == plan.sids["app"]
    reached, seen = traffic(lab)
    assert reached
    assert srv6_destinations(seen["fw"]) == {sid["app"]}
    assert seen["upf"] == []

    # Drift: a SID route deleted by hand shows up on read, and applying again repairs it.
    factory = lab.fabric.fabric.hbr("lab_factory")
    subprocess.run(["ip", "-n", factory.namespace, "-6", "route", "del", f"{sid['fw']}/128"],
                   check=True)
    provider = HbrRoutesProvider()
    refreshed = provider.read("id", outs["lab_factory"]).outs
    assert f"{sid['fw']}/128" not in {r["dst"] for r in refreshed["live"]}
    wanted = {k: v for k, v in outs["lab_factory"].items() if k != "live"}
    assert provider.diff("id", refreshed, wanted).changes
    provider.update("id", refreshed, wanted)
    assert traffic(lab)[0]

    for old in outs.values():
        provider.delete("id", old)
    reached, _ = traffic(lab, count=2)
    assert not reached
    for namespace in lab.fabric.namespaces:
        assert kernel.read(namespace) == [], namespace
        assert kernel.read_markers(namespace) == [], namespace


def test_routes_of_other_owners_are_never_touched(lab):
    faredge = lab.fabric.fabric.hbr("lab_faredge")
    other = "fd00:dead:beef::/64"
    subprocess.run(["ip", "-n", faredge.namespace, "-6", "route", "add", other, "dev", "up0"],
                   check=True)
    try:
        _, outs = program(lab, chain(lab, "fw", "upf"))
        for old in outs.values():
            HbrRoutesProvider().delete("id", old)
        listed = subprocess.run(["ip", "-n", faredge.namespace, "-6", "route", "show", other],
                                capture_output=True, text=True, check=True).stdout
        assert other.split("/")[0] in listed
    finally:
        subprocess.run(["ip", "-n", faredge.namespace, "-6", "route", "del", other], check=False)


def test_the_ansible_module_and_the_provider_leave_the_same_kernel_state(lab, tmp_path):
    plan = compute(lab.fabric.fabric, chain(lab, "fw", "upf"))
    by_netlink = {}
    for config in plan.hbrs:
        kernel.apply(config.namespace, config.routes, owned=(), owner=OWNER)
        by_netlink[config.hbr] = (kernel.read(config.namespace),
                                  kernel.read_markers(config.namespace))
        kernel.apply(config.namespace, (), owned=config.routes, owner=OWNER)
        assert kernel.read(config.namespace) == kernel.read_markers(config.namespace) == []
    root = Path(__file__).resolve().parents[2]
    for config in plan.hbrs:
        arguments = json.dumps({"netns": config.namespace, "state": "present", "owner": OWNER,
                                "routes": [r.model_dump(mode="json", exclude_none=True)
                                           for r in config.routes]})
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
             "-m", "tcra.telco.srv6_route", "-a", arguments],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(root / "collections"),
                 "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                 "ANSIBLE_LOCALHOST_WARNING": "false"})
        assert done.returncode == 0, done.stdout + done.stderr
        try:  # the same routes and the same owner markers
            assert (kernel.read(config.namespace),
                    kernel.read_markers(config.namespace)) == by_netlink[config.hbr]
        finally:
            kernel.apply(config.namespace, (), owned=config.routes, owner=OWNER)
        assert kernel.read(config.namespace) == kernel.read_markers(config.namespace) == []

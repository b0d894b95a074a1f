"""`tcra chain vars` on a real kernel: the variables it writes, applied by the tcra.telco.hbr
role to two HBRs in network namespaces, leave exactly the routes `compute` gave SRv6Chain,
with the owner's markers. No lab: two namespaces of the test's own, always removed."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tcra.model.fabric import Chain, Fabric
from tcra.tcm import kernel
from tcra.tcm.compute import compute
from tests.conftest import ROOT
from tests.integration.test_hbr_routes_read import ip
from tests.unit.test_cli import run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
BIN = Path(sys.executable).parent


@pytest.fixture
def routers() -> Iterator[tuple[str, str]]:
    """Two namespaces standing in for HBRs on remote hosts, joined by a veth pair, each with
    a veth towards a workload; always removed."""
    tag = uuid.uuid4().hex[:8]
    edge, plant = f"tcracv-{tag}-e", f"tcracv-{tag}-p"
    try:
        for name in (edge, plant):
            ip("netns", "add", name)
        ip("link", "add", "up0", "netns", edge, "type", "veth", "peer", "name", "up0",
           "netns", plant)
        ip("-n", plant, "link", "add", "fw0", "type", "veth", "peer", "name", "fw1")
        for name, devs in ((edge, ("up0",)), (plant, ("up0", "fw0", "fw1"))):
            for dev in devs:
                ip("-n", name, "link", "set", dev, "up")
        ip("-n", plant, "-6", "addr", "add", "fd00:f0::1/64", "dev", "fw0", "nodad")
        yield edge, plant
    finally:
        for name in (edge, plant):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True,
                           timeout=30)


def test_the_role_applies_the_printed_vars_as_compute_gave_them(routers, tmp_path):
    edge, plant = routers
    fabric = {"hbrs": [
        {"name": "hbr-edge", "host": edge, "namespace": edge, "locator": "fd00:1::/48",
         "uplink": "up0", "interfaces": ["up0"]},
        {"name": "hbr-plant", "host": plant, "namespace": plant, "locator": "fd00:2::/48",
         "uplink": "up0", "interfaces": ["up0", "fw0"]}],
        "endpoints": [
            {"workload": "fw", "hbr": "hbr-plant", "address": "fd00:f0::2", "dev": "fw0"},
            {"workload": "app", "hbr": "hbr-plant", "address": "fd00:f0::3", "dev": "fw0"}]}
    chain = {"name": "web", "ingress": "hbr-edge", "destination": "fd00:40::/64",
             "functions": ["fw"], "egress": "app"}
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"tcra_fabric": fabric},
        "children": {"sites": {"children": {}}, "hbr": {"hosts": {edge: local, plant: local}}},
    }}))
    (tmp_path / "web.yml").write_text(yaml.safe_dump(chain))
    (tmp_path / "hbr.yml").write_text(yaml.safe_dump([{
        "hosts": "hbr", "gather_facts": False, "roles": ["tcra.telco.hbr"]}]))

    written = run("chain", "vars", str(inventory), str(tmp_path / "web.yml"),
                  "--out", str(inventory / "host_vars"), "--owner", "tests/web@ci")
    assert written.returncode == 0, written.stdout + written.stderr
    played = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(tmp_path / "hbr.yml")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
             "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "ANSIBLE_NOCOLOR": "1"})
    assert played.returncode == 0, played.stdout[-4000:] + played.stderr[-2000:]

    plan = compute(Fabric.model_validate(fabric), Chain.model_validate(chain))
    for config in plan.hbrs:
        namespace = config.namespace
        assert namespace is not None
        assert sorted(kernel.read(namespace), key=lambda r: r.key) == sorted(
            config.routes, key=lambda r: r.key)
        assert len(kernel.read_owned(namespace, "tests/web@ci")) == len(config.routes)

"""The community.general Redfish play of the collection README, run as the README shows it,
against the lab's BMC over HTTPS verified with the lab's CA."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tcra.bmc import power_state
from tcra.inventory import load
from tcra.lab import tls
from tcra.lab.spec import LabSpec, load_state
from tcra.model import Host
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, needs_lab]
REPO = Path(__file__).resolve().parents[2]
README = REPO / "collections/ansible_collections/tcra/telco/README.md"
PLAY = "tcra.telco.redfish_power"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSpec]:
    with running_lab(tmp_path_factory.mktemp("redfishplay"), "citestplay", nodes=1) as spec:
        yield spec


@pytest.fixture
def node(spec: LabSpec) -> Iterator[Host]:
    """The lab's one node, powered off (by libvirt, behind the BMC) before each test."""
    [host] = load(spec.inventory).hosts
    conn = libvirt.open(spec.libvirt_uri)
    try:
        domain = conn.lookupByUUIDString(host.bmc.system_id)
        if domain.isActive():
            domain.destroy()
    finally:
        conn.close()
    yield host


def domain_active(spec: LabSpec, host: Host) -> bool:
    conn = libvirt.open(spec.libvirt_uri)
    try:
        return bool(conn.lookupByUUIDString(host.bmc.system_id).isActive())
    finally:
        conn.close()


def play(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook -i <inventory> tcra.telco.redfish_power`, from the repository root."""
    return subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), PLAY, *extra], cwd=REPO,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_readme_shows_the_play_that_is_run():
    assert f"ansible-playbook -i inventories/<name> {PLAY}" in README.read_text()


def test_the_play_reads_the_power_over_https_and_powers_the_node_on(spec, node):
    state = load_state(spec)
    assert node.bmc.address.startswith("https://127.0.0.1:")
    assert node.bmc.verify_tls and node.bmc.ca_bundle == state.bmc.ca_bundle
    assert not domain_active(spec, node)

    run = play(spec.inventory)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert f"{node.name}: power Off" in run.stdout  # read from the BMC before acting
    assert domain_active(spec, node)  # the power action reached the libvirt domain
    assert power_state(node) == "On"


def test_the_play_refuses_a_bmc_its_ca_bundle_does_not_vouch_for(spec, node, tmp_path):
    other = tls.ensure(tmp_path / "other-ca", "other")
    wrong = node.bmc.model_dump(mode="json", exclude={"credentials"}, exclude_defaults=True)
    extra = tmp_path / "wrong-ca.json"
    extra.write_text(json.dumps({"tcra_bmc": {**wrong, "ca_bundle": str(other.ca_bundle)}}))

    run = play(spec.inventory, "-e", f"@{extra}")

    assert run.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in run.stdout, run.stdout[-3000:]
    assert "Set a one-time PXE boot" not in run.stdout  # stopped at the first, read-only task
    assert not domain_active(spec, node)

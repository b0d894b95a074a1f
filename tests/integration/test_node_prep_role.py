"""The tcra.telco.node_prep role through its Molecule scenario: every path it writes points
into a scenario tree with a fake sysfs; converged twice (idempotence), checked file by file,
ptp4l run with the written configuration, missing devices skipped with a message."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_libvirt_host_role import molecule_test

pytestmark = [
    pytest.mark.lab,
    pytest.mark.alone,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the scenario creates a network namespace: needs root"
    ),
]

ROOT = Path("/tmp/tcramol-node-prep")
NETNS = "tcramol-ptp"
# The machine's own files the role would write without the scenario's paths.
MACHINE_FILES = ("/etc/default/grub.d/tcra-node-prep.cfg", "/etc/sysctl.d/80-tcra-node-prep.conf",
                 "/etc/udev/rules.d/70-tcra-sriov.rules", "/etc/linuxptp/tcra-ptp4l.conf",
                 "/etc/systemd/system/tcra-ptp4l.service")


def namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True, timeout=10).stdout
    return [line.split()[0] for line in listed.splitlines()]


def test_molecule_scenario_passes_and_leaves_the_machine_as_it_was():
    assert not ROOT.exists() and NETNS not in namespaces(), "an earlier run left its tree"
    hugepages = {p: p.read_text() for p in Path("/sys/kernel/mm/hugepages").glob("*/nr_hugepages")}
    output = molecule_test("node_prep")
    for skipped in ("SR-IOV: skipped tcrgone0: no such network device",
                    "SR-IOV: skipped tcrnic0: the device does not support SR-IOV",
                    "PTP: skipped ptpgone: no such network device",
                    "Reboot needed for the node preparation to take full effect"):
        assert skipped in output
    assert not ROOT.exists()
    assert NETNS not in namespaces()
    assert not any(Path(name).exists() for name in MACHINE_FILES)
    assert {p: p.read_text() for p in hugepages} == hugepages

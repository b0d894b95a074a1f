"""tcra.telco.site on a lab: `ansible-playbook -i <lab inventory> tcra.telco.site` from the
repository root (its ansible.cfg finds the collection) converges every host of the lab, a second
run changes nothing, and once the lab is down the machine's configuration files are as before:
the playbook changed nothing `tcra lab down` does not take back."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
# What the lab's inventory must say of its machine so that the site playbook leaves nothing
# behind on it: no sysctl.d or fstab entries, no restart of the lab's libvirtd, no apt run.
LAB_HYPERVISOR = {"libvirt_host_persist": False, "libvirt_host_service_manager": "none",
                  "libvirt_host_manage_packages": False}
# Files the roles would write on the machine itself.
MACHINE_FILES = ("/etc/libvirt/qemu.conf", "/etc/libvirt/libvirtd.conf", "/etc/fstab",
                 "/etc/sysctl.d/80-tcra-libvirt-host.conf",
                 "/etc/sysctl.d/80-tcra-node-prep.conf", "/etc/default/grub.d/tcra-node-prep.cfg")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.MULTILINE)


def machine_files() -> dict[str, str]:
    return {name: hashlib.sha256(Path(name).read_bytes()).hexdigest()
            if Path(name).is_file() else "absent" for name in MACHINE_FILES}


def site(inventory: Path) -> tuple[str, dict[str, dict[str, int]]]:
    """Run the site playbook; its output and the PLAY RECAP as host -> counters."""
    # no ANSIBLE_* from outside: the repository's ansible.cfg alone must find the collection
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    result = subprocess.run([PLAYBOOK, "-i", str(inventory), "tcra.telco.site"], cwd=ROOT,
                            capture_output=True, text=True, timeout=900,
                            env={**env, "ANSIBLE_NOCOLOR": "1"})
    output = result.stdout + result.stderr
    recap = output[output.rfind("PLAY RECAP"):]
    counters = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m[1:]),
                               strict=True)) for m in RECAP.findall(recap)}
    assert result.returncode == 0, output[-6000:]
    return output, counters


def test_site_playbook_converges_the_lab_and_a_second_run_changes_nothing(tmp_path):
    before = machine_files()
    with running_lab(tmp_path, "sitepb", nodes=1) as spec:
        inventory = spec.inventory
        hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]
        hypervisor = yaml.safe_load((inventory / "host_vars/lab-hypervisor.yml").read_text())
        wrong = {k: hypervisor.get(k) for k, v in LAB_HYPERVISOR.items() if hypervisor.get(k) != v}
        assert not wrong, (f"the lab inventory must set {LAB_HYPERVISOR} for lab-hypervisor,"
                           f" got {wrong}: the playbook would change this machine for good")
        _, first = site(inventory)
        output, second = site(inventory)
    expected = {"lab-hypervisor", *hosts["hbr"]["hosts"]}
    assert set(first) == expected
    assert set(second) == expected
    for host, counters in first.items():
        assert counters["failed"] == counters["unreachable"] == 0, (host, counters)
    for host, counters in second.items():
        assert counters["changed"] == counters["failed"] == counters["unreachable"] == 0, (
            host, counters, output[-4000:])
    assert first["lab-hypervisor"]["changed"] == 0  # the lab's own values: nothing to change
    assert machine_files() == before

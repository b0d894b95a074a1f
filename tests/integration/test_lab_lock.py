"""Lab commands at the same time on one machine: the lock serialises them, nothing fails with a
traceback, and `down` leaves the machine as it was (hugepages, hugetlbfs mounts, domains,
namespaces), the first lab down leaving what the other still uses. Labs here are small: one
node, two hugepages."""

import os
import re
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest

from tcra.lab import hugepages, hypervisor, lock
from tcra.lab.spec import HugetlbfsMount, LabSpec, load_state
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
TCRA = str(Path(sys.executable).parent / "tcra")
PAGES = 2


def machine(prefixes: list[str]) -> dict[str, object]:
    """What a lab changes on the machine, for before/after comparison."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[2] == "hugetlbfs"]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True, timeout=30).stdout.split()
    domains: list[str] = []
    if Path("/run/libvirt/libvirt-sock").exists():
        conn = libvirt.open("qemu:///system")
        try:
            domains = [d.name() for d in conn.listAllDomains()]
        finally:
            conn.close()
    ours = tuple(prefixes)
    return {"hugepages": int(Path("/proc/sys/vm/nr_hugepages").read_text()),
            "hugetlbfs": mounts,
            "libvirtd": hypervisor.daemon_pid(),  # the last lab down stops one a lab started
            "domains": sorted(d for d in domains if d.startswith(ours)),
            "namespaces": sorted(n for n in namespaces if n.startswith(ours))}


def up(root: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TCRA, "lab", "up", "--name", name, "--nodes", "1", "--hugepages", str(PAGES),
         "--no-kubernetes",
         "--state-root", str(root / "state"), "--inventory", str(root / f"inventory-{name}"),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def down(root: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TCRA, "lab", "down", "--name", name, "--state-root",
                           str(root / "state"), *extra], capture_output=True, text=True,
                          timeout=300)


def together(root: Path, names: list[str]) -> list[tuple[int, int, str, str]]:
    """Start `lab up` for each name at once; (pid, exit code, stdout, stderr) of each."""
    started = [up(root, name) for name in names]
    finished = []
    for process in started:
        out, err = process.communicate(timeout=600)
        finished.append((process.pid, process.returncode, out, err))
    return finished


def first_mounting(names: list[str]) -> list[str]:
    """`names` with the lab that mounted hugetlbfs (if a lab did) first: the one whose `down`
    must leave the mount to the other."""
    record = (HugetlbfsMount.model_validate_json(hugepages.RECORD.read_bytes())
              if hugepages.RECORD.exists() else HugetlbfsMount())
    mounting = [h.name for h in record.holders[:1]]
    return sorted(names, key=lambda n: n not in mounting)


def waiting_for(err: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"waiting up to \d+s for `lab up` of lab \w+, pid (\d+)",
                                           err)]


@pytest.mark.parametrize("names", [["citlock", "citlock"], ["citlocka", "citlockb"]],
                         ids=["same-lab", "two-labs"])
def test_two_ups_at_once_both_succeed_one_after_the_other(tmp_path, names):
    prefixes = [LabSpec(name=n).prefix for n in names]
    before = machine(prefixes)
    during: dict[str, object] = {}
    try:
        (pid_a, rc_a, out_a, err_a), (pid_b, rc_b, out_b, err_b) = together(tmp_path, names)
        assert (rc_a, rc_b) == (0, 0), err_a + err_b
        assert "Traceback" not in err_a + err_b
        assert f"lab {names[0]} is up" in out_a and f"lab {names[1]} is up" in out_b
        # exactly one waited, naming the other's pid
        assert sorted([*waiting_for(err_a), *waiting_for(err_b)]) in ([pid_a], [pid_b])
        assert waiting_for(err_a) in ([], [pid_b]) and waiting_for(err_b) in ([], [pid_a])
        states = [load_state(LabSpec(name=n, state_root=tmp_path / "state")) for n in set(names)]
        assert sum(s.hugepages.count for s in states) == PAGES * len(states)
        assert machine(prefixes)["hugepages"] == before["hugepages"] + PAGES * len(states)
        during = machine(prefixes)
    finally:
        shared = []  # what labs share, as each lab but the last went down
        for name in (order := first_mounting(sorted(set(names)))):
            done = down(tmp_path, name)
            assert done.returncode == 0, done.stderr
            assert "Traceback" not in done.stderr
            if name != order[-1]:
                shared.append({k: machine(prefixes)[k] for k in ("hugetlbfs", "libvirtd")})
    # the other lab, still up, kept what labs share
    assert shared == [{k: during[k] for k in ("hugetlbfs", "libvirtd")}] * len(shared)
    assert machine(prefixes) == before


def test_a_second_command_refuses_naming_the_lab_and_the_holder(tmp_path):
    holder = f"pid {os.getpid()}"
    with lock.held("holder", "up", wait=60, report=lambda _msg: None):
        started = up(tmp_path, "citlockr", "--wait", "0")
        out, err = started.communicate(timeout=120)
        refused_down = down(tmp_path, "citlockr", "--wait", "1")
    refusal = (f"another lab command is running (`lab up` of lab holder, {holder}); waited"
               f" {{}}s for {lock.LOCK_FILE} (--wait)")
    assert started.returncode == 1 and out == ""
    assert err.splitlines() == [f"error: lab citlockr: {refusal.format(0)}"]
    assert refused_down.returncode == 1
    assert refused_down.stderr.splitlines() == [
        f"lab citlockr: waiting up to 1s for `lab up` of lab holder, {holder}",
        f"error: lab citlockr: {refusal.format(1)}"]
    assert not (tmp_path / "state").exists()  # nothing was touched

"""libvirtd restarted from outside while the lab runs: the lab's lookups fail loudly instead of
reading its nodes as absent, and `down` removes the lab's objects through the new daemon but
leaves that daemon running, saying so, since the lab did not start it."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcra import lab
from tcra.lab import hypervisor, nodes
from tcra.lab.processes import LabError, Process, alive, stop, wait_until
from tcra.lab.spec import LabSpec, load_state
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
TCRA = str(Path(sys.executable).parent / "tcra")


@pytest.fixture
def spec(tmp_path, kubernetes_lab) -> Iterator[LabSpec]:
    kubernetes_lab.release()  # the tests' shared lab runs a libvirtd of its own
    if hypervisor.daemon_pid() is not None:
        pytest.skip("a libvirtd already runs here: this test needs the lab to start its own")
    spec = LabSpec(name="citrestart", nodes=1, hugepages=2, state_root=tmp_path / "state",
                   inventory=tmp_path / "inventory", kubernetes=False)
    try:
        lab.up(spec)
        yield spec
    finally:
        lab.down(spec)


def outside_libvirtd(folder: Path) -> tuple[Process, Process]:
    """virtlogd and libvirtd started by hand, as an administrator's restart would."""
    virtlogd, libvirtd = hypervisor.start_daemons(folder)
    assert wait_until(lambda: hypervisor.daemon_pid() == libvirtd.pid
                      and hypervisor.answers("qemu:///system"), 20)
    return virtlogd, libvirtd


def test_down_leaves_a_libvirtd_it_did_not_start_running(spec, tmp_path):
    state = load_state(spec)
    ours = state.hypervisor.started
    assert [p.program for p in ours] == ["virtlogd", "libvirtd"]
    node = state.nodes[0].name
    conn = hypervisor.connect(spec.libvirt_uri)
    for process in reversed(ours):
        stop(process)

    # libvirtd gone: the node is not "missing", the lab cannot tell
    with pytest.raises(LabError, match=rf"^node {node}: libvirt: "):
        nodes.power_state(conn, node)
    with pytest.raises(LabError, match=rf"^node {node}: libvirt: "):
        nodes.remove(conn, node)
    conn.close()

    virtlogd, libvirtd = outside_libvirtd(tmp_path / "outside")
    try:
        done = subprocess.run([TCRA, "lab", "down", "--name", spec.name, "--state-root",
                               str(spec.state_root)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        notes = done.stderr.splitlines()
        assert (f"note: left libvirtd (pid {libvirtd.pid}) running at qemu:///system, and the"
                " libvirt folders it uses: the lab did not start it") in notes
        assert all(line.startswith("note: ") for line in notes)  # one line each, no traceback
        assert alive(libvirtd) and alive(virtlogd)
        assert hypervisor.daemon_pid() == libvirtd.pid
        conn = hypervisor.connect(spec.libvirt_uri)
        try:  # the lab's own objects went, through the daemon that answers
            assert not [d for d in conn.listAllDomains() if d.name().startswith(spec.prefix)]
            assert not [p for p in conn.listAllStoragePools() if p.name().startswith(spec.prefix)]
        finally:
            conn.close()
        assert not spec.state_dir.exists()
    finally:
        stop(libvirtd)
        stop(virtlogd)
        for path in state.hypervisor.created_paths:  # kept by down while libvirtd used them
            shutil.rmtree(path, ignore_errors=True)
    assert hypervisor.daemon_pid() is None

"""`tcra lab down` of a lab with Kubernetes, on a lab of its own: the shared one goes down
first (one such lab per machine), and the machine must be as it was before."""

import json
import subprocess
from pathlib import Path

import pytest

from tcra import lab
from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.lab.kube.registry import ADDRESS
from tcra.lab.processes import alive
from tcra.lab.spec import LabSpec, load_state
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, pytest.mark.alone, needs_lab]
CGROUPS = Path("/sys/fs/cgroup")


def test_down_stops_every_component_and_removes_what_the_nodes_made(tmp_path, kubernetes_lab):
    kubernetes_lab.release()  # one lab with Kubernetes per machine, and a machine as found
    spec = LabSpec(name="citkdown", nodes=1, state_root=tmp_path / "state",
                   inventory=tmp_path / "inventory", kubernetes=True)
    before = _machine()
    try:
        lab.up(spec)
        _run_a_pod(spec)
    except BaseException:
        lab.down(spec)
        raise
    state = load_state(spec).kubernetes
    running = _machine()
    assert len(running["shims"]) >= 2  # a pod on each node
    assert len(state.nodes) == 2
    for node in state.nodes:
        assert any(node.bridge in line for line in running["links"])  # its pod's veth
    assert lab.down(spec) == []
    assert not any(alive(c.process) for c in state.components)
    assert not state.folder.exists()
    assert not (tmp_path / "inventory").exists()
    assert not state.kubeconfig.exists()
    for node in state.nodes:
        assert not node.run_folder.exists()
        assert not any((h / node.cgroup_root.lstrip("/")).exists() for h in CGROUPS.iterdir())
    assert _machine() == before


def _run_a_pod(spec: LabSpec) -> None:
    """One at each site, on its node."""
    for site in ("lab_factory", "lab_faredge"):
        cluster = load(spec.inventory).site(site).cluster
        kubectl = [binaries.find().kubectl(), "--kubeconfig", str(cluster.kubeconfig)]
        name = f"citdown-{site.removeprefix('lab_')}"
        subprocess.run([*kubectl, "run", name, f"--image={ADDRESS}/tcra/opcua-gateway:0.1.0",
                        "--restart=Never", "--overrides",
                        json.dumps({"spec": {"nodeSelector": cluster.node_selector}})],
                       check=True, timeout=60)
        subprocess.run([*kubectl, "wait", "--for=condition=Ready", f"pod/{name}",
                        "--timeout=90s"], check=True, timeout=120)


def _machine() -> dict[str, list[str]]:
    """What a node leaves on the machine if it leaks: links (bridge, veths), mounts, network
    namespaces, containerd shims, cgroups at the hierarchies' top, and the fixed paths."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True,
                           timeout=10).stdout
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    shims = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
             and b"containerd-shim" in _read(p / "cmdline")]
    return {
        "links": sorted(line.split(":")[1].split("@")[0].strip() for line in links.splitlines()),
        "mounts": sorted(line.split()[4] for line in mounts),
        "netns": sorted(p.name for p in Path("/run/netns").glob("*")),
        "shims": shims,
        "cgroups": sorted(str(p) for h in CGROUPS.iterdir() for p in h.glob("*") if p.is_dir()),
        "paths": [str(p) for p in (Path("/var/log/containers"), Path("/run/containerd"),
                                   Path("/var/lib/containerd"), Path("/opt/containerd"),
                                   Path("/etc/cni"), Path("/var/lib/cni"),
                                   Path("/var/lib/kubelet"), Path("/var/log/pods"))
                  if p.exists()],
    }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""

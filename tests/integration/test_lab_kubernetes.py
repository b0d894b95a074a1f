"""The lab's management cluster against itself: etcd, the Kubernetes control plane and the
Cluster API managers the lab built and started, checked the way a user would check them."""

import ipaddress
import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from tcra import lab
from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.lab.processes import LabError
from tcra.lab.spec import LabSpec, load_state
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
BAD_CLUSTER = """
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {name: bad, namespace: default}
spec:
  clusterNetwork:
    pods: {cidrBlocks: ["not-a-cidr"]}
"""


@pytest.fixture(scope="module")
def spec(kubernetes_lab):
    return kubernetes_lab.get()


def kubectl(spec: LabSpec, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    kubeconfig = load(spec.inventory).site("lab_factory").management_cluster.kubeconfig
    done = subprocess.run([binaries.find().kubectl(), "--kubeconfig", str(kubeconfig),
                           *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def listeners(pids: set[int]) -> list[str]:
    """Local addresses the processes listen on (TCP), from `ss`."""
    table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in table.splitlines()
            if {int(p) for p in re.findall(r"pid=(\d+)", line)} & pids]


def test_every_component_is_ready_and_listens_on_loopback_only(spec):
    report = lab.status(spec)
    assert [c.name for c in report.kubernetes_components] == [
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
        "capi", "kubeadm-bootstrap", "kubeadm-control-plane", "capd", "registry",
        "containerd-factory", "kubelet-factory", "containerd-faredge", "kubelet-faredge"]
    assert all(c.ready for c in report.kubernetes_components), report.kubernetes_components
    addresses = listeners({c.pid for c in report.kubernetes_components})
    assert len(addresses) >= len(report.kubernetes_components)
    # Each kubelet also serves the API server on its node's address: its pods' bridge, which
    # leads nowhere but to the pods.
    nodes = {n.address for n in load_state(spec).kubernetes.nodes}
    assert {a.rsplit(":", 1)[0] for a in addresses} == {"127.0.0.1", *nodes}, addresses


def test_the_inventory_names_the_management_cluster_of_both_sites(spec):
    inventory = load(spec.inventory)
    clusters = {site.id: site.management_cluster for site in inventory.sites}
    assert set(clusters) == {"lab_factory", "lab_faredge"}
    kubeconfig = clusters["lab_factory"].kubeconfig
    assert clusters["lab_faredge"] == clusters["lab_factory"]
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"  # it holds a private key
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert server == load_state(spec).kubernetes.server
    assert kubectl(spec, "get", "--raw", "/readyz").stdout == "ok"


def test_rbac_is_on_and_cluster_api_is_served(spec):
    assert kubectl(spec, "auth", "can-i", "list", "secrets", "--as", "someone",
                   check=False).stdout.strip() == "no"
    assert kubectl(spec, "auth", "can-i", "list", "secrets").stdout.strip() == "yes"
    resources = kubectl(spec, "api-resources", "--api-group", "cluster.x-k8s.io",
                        "-o", "name").stdout.split()
    assert {"clusters.cluster.x-k8s.io", "machinedeployments.cluster.x-k8s.io"} <= set(resources)
    crd = json.loads(kubectl(spec, "get", "crd", "devclusters.infrastructure.cluster.x-k8s.io",
                             "-o", "json").stdout)
    assert crd["metadata"]["labels"]["cluster.x-k8s.io/v1beta2"]  # the contract label


def test_a_bad_cluster_is_denied_by_cluster_apis_webhook(spec):
    denied = kubectl(spec, "apply", "--dry-run=server", "-f", "-", stdin=BAD_CLUSTER,
                     check=False)
    assert denied.returncode != 0
    assert 'The Cluster "bad" is invalid' in denied.stderr
    assert "invalid CIDR address: not-a-cidr" in denied.stderr  # net.ParseCIDR: the webhook


def test_up_again_keeps_the_running_control_plane(spec):
    before = load_state(spec).kubernetes
    lab.up(spec)
    assert load_state(spec).kubernetes == before


def test_a_second_lab_with_kubernetes_is_refused_in_one_line(spec, tmp_path):
    second = LabSpec(name="citk2", nodes=1, hugepages=0, state_root=tmp_path / "state",
                     inventory=tmp_path / "inventory", kubernetes=True)
    try:
        with pytest.raises(LabError, match="one lab per machine runs Kubernetes"):
            lab.up(second)
    finally:
        lab.down(second)
    assert all(c.ready for c in lab.status(spec).kubernetes_components)


def test_each_site_has_the_cluster_with_a_node_of_its_own(spec):
    inventory = load(spec.inventory)
    kubernetes = load_state(spec).kubernetes
    for site in ("lab_factory", "lab_faredge"):
        cluster = inventory.site(site).cluster
        assert cluster.kubeconfig == kubernetes.kubeconfig
        assert cluster.registry == "127.0.0.1:5443"
        assert cluster.registry_ca.read_bytes() == (
            kubernetes.folder / "pki" / "ca.pem").read_bytes()
        assert cluster.pod_endpoints
        assert cluster.node_selector == {"tcra.io/site": site}
    nodes = json.loads(kubectl(spec, "get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["labels"]["tcra.io/site"] for n in nodes) == [
        "lab_factory", "lab_faredge"]
    assert all(c["status"] == "True" for n in nodes for c in n["status"]["conditions"]
               if c["type"] == "Ready")


def test_a_pod_from_the_labs_registry_runs_at_its_site_in_its_own_namespaces(spec):
    """At lab_faredge, by its site label: on that node's bridge, IPv6 from that site's HBR."""
    image = "127.0.0.1:5443/tcra/opcua-gateway:0.1.0"
    faredge = next(n for n in load_state(spec).kubernetes.nodes if n.site == "lab_faredge")
    kubectl(spec, "run", "citpod", f"--image={image}", "--restart=Never", "--port=8080",
            "--overrides", json.dumps({"spec": {"nodeSelector": {
                "tcra.io/site": "lab_faredge"}}}))
    try:
        kubectl(spec, "wait", "--for=condition=Ready", "pod/citpod", "--timeout=90s")
        pod = json.loads(kubectl(spec, "get", "pod", "citpod", "-o", "json").stdout)
        assert pod["spec"]["nodeName"] == faredge.name
        address = pod["status"]["podIP"]
        assert ipaddress.ip_address(address) in faredge.pod_cidr
        assert any(ipaddress.ip_address(a["ip"]) in faredge.pods.prefix
                   for a in pod["status"]["podIPs"])
        with urllib.request.urlopen(f"http://{address}:8080/", timeout=10) as reply:
            assert json.load(reply)["service"] == "opcua-gateway"
        # A real process of this machine, in a network namespace that is not ours.
        httpd = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                 and b"httpd" in _read(p / "cmdline") and b"8080" in _read(p / "cmdline")]
        assert httpd
        ours = Path("/proc/self/ns/net").readlink()
        assert all((p / "ns" / "net").readlink() != ours for p in httpd)
    finally:
        kubectl(spec, "delete", "pod", "citpod", "--wait=false", check=False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""

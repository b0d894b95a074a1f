"""stacks/k8s-lab through the real engine and pulumi-kubernetes, against the lab's management
cluster: Cluster API makes the cluster (in-memory machines), the kubeconfig output lists its
nodes; scale, upgrade, three control-plane machines, drift by hand, refresh, repair, destroy."""

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tcra.inventory import load
from tcra.lab.kube import binaries
from tests.e2e.test_pim_stack import pulumi_project
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
NAME = "edge"
CAPI_KINDS = ("clusters.cluster.x-k8s.io,machinedeployments.cluster.x-k8s.io,"
              "machinesets.cluster.x-k8s.io,machines.cluster.x-k8s.io,"
              "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io,"
              "kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io,"
              "kubeadmconfigs.bootstrap.cluster.x-k8s.io,"
              "devclusters.infrastructure.cluster.x-k8s.io,"
              "devmachinetemplates.infrastructure.cluster.x-k8s.io,"
              "devmachines.infrastructure.cluster.x-k8s.io")


@pytest.fixture(scope="module")
def lab(kubernetes_lab):
    return kubernetes_lab.get()


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    with pulumi_project(tmp_path_factory.mktemp("k8s-stack"), "k8s-lab",
                        {"inventory": str(lab.inventory)}) as run:
        yield run


def kubectl(lab, *args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
    config = kubeconfig or load(lab.inventory).site("lab_factory").management_cluster.kubeconfig
    done = subprocess.run([binaries.find().kubectl(), "--kubeconfig", str(config),
                           "--request-timeout", "30s", *args],
                          capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def up(stack, **config: str) -> None:
    for key, value in config.items():
        stack("config", "set", key, value)
    stack("up", "--yes")


def cluster_object(lab) -> dict:
    return json.loads(kubectl(lab, "get", "clusters.cluster.x-k8s.io", NAME, "-o", "json"))


def available(lab, timeout: float = 120) -> bool:
    """The Cluster's Available condition, which Cluster API sums up from its parts a little
    after the last of them settles (what `up` waits for)."""
    deadline = time.monotonic() + timeout
    while condition(cluster_object(lab), "Available") != "True":
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def condition(obj: dict, kind: str) -> str | None:
    return next((c["status"] for c in obj.get("status", {}).get("conditions", [])
                 if c["type"] == kind), None)


def wait_for_nodes(stack, lab, count: int, version: str, timeout: float = 300) -> list[dict]:
    """The workload cluster's nodes once there are `count`, each the node of a Running machine
    at `version` (machines come and go after `up` returns: a rollout replaces them in turn).
    The nodes are read through the stack's kubeconfig output, read once (an engine run)."""
    deadline = time.monotonic() + timeout
    kubeconfig = stack("stack", "output", "kubeconfig", "--show-secrets").stdout
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as file:
        file.write(kubeconfig)
        file.flush()
        return _nodes_when(lab, Path(file.name), count, version, deadline)


def _nodes_when(lab, kubeconfig: Path, count: int, version: str, deadline: float
                ) -> list[dict]:
    while True:
        nodes = json.loads(kubectl(lab, "get", "nodes", "-o", "json",
                                   kubeconfig=kubeconfig))["items"]
        machines = json.loads(kubectl(lab, "get", "machines.cluster.x-k8s.io", "-o", "json",
                                      "-l", f"cluster.x-k8s.io/cluster-name={NAME}"))["items"]
        running = {m["status"].get("nodeRef", {}).get("name") for m in machines
                   if m["status"].get("phase") == "Running" and m["spec"]["version"] == version}
        if len(machines) == count and {n["metadata"]["name"] for n in nodes} == running:
            return nodes
        if time.monotonic() > deadline:
            seen = [(m["metadata"]["name"], m["spec"]["version"], m["status"].get("phase"))
                    for m in machines]
            raise AssertionError(f"expected {count} nodes of Running machines at {version};"
                                 f" nodes {sorted(n['metadata']['name'] for n in nodes)},"
                                 f" machines {seen}")
        time.sleep(3)


def control_plane_nodes(nodes: list[dict]) -> int:
    return sum("node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {})
               for n in nodes)


def test_a_cluster_s_life_from_up_to_destroy(stack, lab):
    """One cluster's life, each step on the cluster the one before left (a cluster is slow to
    make): an available cluster whose secret kubeconfig lists its nodes; its workers'
    MachineDeployment scaled in by hand shows in refresh and up scales it back out; scaled in
    by up, upgraded, and its control plane grown to three machines, it is never replaced;
    destroy removes every object it made."""
    stack("destroy", "--yes")  # from v1.34.1: Cluster API refuses a downgrade
    up(stack, control_plane_replicas="1", workers="2", kubernetes_version="v1.34.1")
    assert available(lab)
    assert "[secret]" in stack("stack", "output", "kubeconfig").stdout
    nodes = wait_for_nodes(stack, lab, 3, "v1.34.1")
    assert control_plane_nodes(nodes) == 1
    stack("preview", "--expect-no-changes")
    uid = cluster_object(lab)["metadata"]["uid"]

    kubectl(lab, "scale", "machinedeployments.cluster.x-k8s.io", f"{NAME}-workers",
            "--replicas", "1")
    refreshed = stack("refresh", "--yes", "--diff").stdout
    assert "replicas" in refreshed
    assert stack("preview", "--expect-no-changes", check=False).returncode != 0
    stack("up", "--yes")  # scales back out
    deployment = json.loads(kubectl(lab, "get", "machinedeployments.cluster.x-k8s.io",
                                    f"{NAME}-workers", "-o", "json"))
    assert deployment["spec"]["replicas"] == 2
    wait_for_nodes(stack, lab, 3, "v1.34.1")

    up(stack, workers="1")
    wait_for_nodes(stack, lab, 2, "v1.34.1")
    up(stack, kubernetes_version="v1.35.0")
    wait_for_nodes(stack, lab, 2, "v1.35.0", timeout=600)
    control_plane = json.loads(kubectl(lab, "get", "kubeadmcontrolplanes", f"{NAME}-cp",
                                       "-o", "json"))
    assert control_plane["spec"]["version"] == "v1.35.0"
    up(stack, control_plane_replicas="3")
    wait_for_nodes(stack, lab, 4, "v1.35.0")
    control_plane = json.loads(kubectl(lab, "get", "machines.cluster.x-k8s.io", "-o", "json",
                                       "-l", "cluster.x-k8s.io/control-plane"))["items"]
    assert len(control_plane) == 3
    assert available(lab)
    assert cluster_object(lab)["metadata"]["uid"] == uid  # never replaced
    stack("preview", "--expect-no-changes")

    assert kubectl(lab, "get", CAPI_KINDS, "-A", "-o", "name").strip()
    stack("destroy", "--yes")
    assert kubectl(lab, "get", CAPI_KINDS, "-A", "-o", "name").strip() == ""
    assert kubectl(lab, "get", "secrets", "-o", "name",
                   "-l", f"cluster.x-k8s.io/cluster-name={NAME}").strip() == ""


def test_an_unreachable_management_cluster_fails_in_bounded_time_naming_it(stack, lab,
                                                                           tmp_path):
    kubeconfig = load(lab.inventory).site("lab_factory").management_cluster.kubeconfig
    closed = tmp_path / "closed.kubeconfig"  # the same kubeconfig, its server on a closed port
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    closed.write_text(yaml.safe_dump(config))
    inventory = tmp_path / "inventory"
    subprocess.run(["cp", "-r", str(lab.inventory), str(inventory)], check=True)
    for site in ("lab_factory", "lab_faredge"):
        variables = inventory / "group_vars" / f"{site}.yml"
        variables.write_text(variables.read_text().replace(str(kubeconfig), str(closed)))
    stack("config", "set", "inventory", str(inventory))
    try:
        started = time.monotonic()
        failed = stack("up", "--yes", check=False)
        elapsed = time.monotonic() - started
    finally:
        stack("config", "set", "inventory", str(lab.inventory))
    assert failed.returncode != 0
    assert "127.0.0.1:9" in failed.stdout + failed.stderr
    assert elapsed < 300, elapsed

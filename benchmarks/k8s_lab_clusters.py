"""N in-memory workload clusters on the lab's management cluster, made by Cluster API: through
one `pulumi up` of N K8sClusters, beside the same objects applied by `kubectl apply
--server-side`, in one run. Each cluster: a KubeadmControlPlane of 1 and a MachineDeployment of 1.

Timed for each way: from the start until every Cluster is Available; then everything is deleted
again (not timed) before the next. Printed: wall times, the ratio, the overhead per cluster, and
the management cluster's peak RSS (all its processes, sampled every 0.5 s). Brings up its own lab
(with Kubernetes) and takes it down afterwards.

Run as root: .venv/bin/python benchmarks/k8s_lab_clusters.py [--clusters 10 50 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tcra import lab
from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.lab.kube.control_plane import rss_mib
from tcra.lab.spec import LabSpec, load_state
from tcra.mcm import ControlPlane, InMemoryInfrastructure, K8sClusterSpec, NodePool, plan

ROOT = Path(__file__).resolve().parents[1]
VERSION = "v1.34.1"
AVAILABLE_TIMEOUT = 3600.0
PROGRAM = """\
import pulumi_kubernetes as k8s
from tcra import K8sCluster, K8sClusterArgs, mcm
provider = k8s.Provider("management", kubeconfig=open({kubeconfig!r}).read())
for i in range({count}):
    K8sCluster(f"bench-{{i}}", K8sClusterArgs(
        name=f"bench-{{i}}", management=provider, kubernetes_version={version!r},
        infrastructure=mcm.InMemoryInfrastructure(),
        control_plane=mcm.ControlPlane(replicas=1),
        pools=(mcm.NodePool(name="md", replicas=1),)))
"""


def spec_of(i: int) -> K8sClusterSpec:
    return K8sClusterSpec(name=f"bench-{i}", kubernetes_version=VERSION,
                          infrastructure=InMemoryInfrastructure(),
                          control_plane=ControlPlane(replicas=1),
                          pools=(NodePool(name="md", replicas=1),))


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.program = binaries.find().kubectl()

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([self.program, "--kubeconfig", str(self.kubeconfig), *args],
                              input=stdin, capture_output=True, text=True, check=True,
                              timeout=AVAILABLE_TIMEOUT)
        return done.stdout

    def available(self) -> int:
        clusters = json.loads(self("get", "clusters.cluster.x-k8s.io", "-o", "json"))["items"]
        return sum(any(c["type"] == "Available" and c["status"] == "True"
                       for c in item.get("status", {}).get("conditions", []))
                   for item in clusters)

    def wait_available(self, count: int) -> None:
        deadline = time.monotonic() + AVAILABLE_TIMEOUT
        while self.available() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.available()} of {count} clusters Available")
            time.sleep(1)

    def delete_all(self) -> None:
        self("delete", "clusters.cluster.x-k8s.io", "--all", "--wait", "--timeout", "1800s")
        for kind in ("kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io",
                     "devmachinetemplates.infrastructure.cluster.x-k8s.io"):
            self("delete", kind, "--all", "--wait")


@contextmanager
def peak_rss(spec: LabSpec) -> Iterator[list[float]]:
    """The management cluster's peak RSS in MiB while the block runs (in peak[0])."""
    peak = [0.0]
    done = threading.Event()
    cluster = load_state(spec).kubernetes

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(cluster))
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def with_kubectl(kubectl: Kubectl, count: int) -> float:
    objects = [m for i in range(count) for m in plan(spec_of(i)).manifests()]
    start = time.perf_counter()
    kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(objects))
    kubectl.wait_available(count)
    return time.perf_counter() - start


def with_pulumi(kubectl: Kubectl, count: int, work: Path) -> float:
    project = work / f"pulumi-{count}"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: tcra-bench-clusters\nruntime: python\n")
    (project / "__main__.py").write_text(PROGRAM.format(
        kubeconfig=str(kubectl.kubeconfig), count=count, version=VERSION))
    engine = subprocess.run([str(ROOT / "scripts" / "build-pulumi")], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()[-1]
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{engine}:{os.environ['PATH']}",
           "PULUMI_BACKEND_URL": f"file://{project}", "PULUMI_CONFIG_PASSPHRASE": "bench",
           "PULUMI_HOME": str(work / "pulumi-home"), "PULUMI_SKIP_UPDATE_CHECK": "true"}

    def pulumi(*args: str) -> None:
        subprocess.run(["pulumi", *args, "--non-interactive"], cwd=project, env=env,
                       check=True, capture_output=True, timeout=AVAILABLE_TIMEOUT)

    pulumi("stack", "init", "bench")
    start = time.perf_counter()
    pulumi("up", "--yes", "--skip-preview")
    kubectl.wait_available(count)
    elapsed = time.perf_counter() - start
    pulumi("destroy", "--yes", "--skip-preview")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[10, 50, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcra-bench-") as folder:
        work = Path(folder)
        spec = LabSpec(name="benchk8s", nodes=1, hugepages=0, state_root=work / "state",
                       inventory=work / "inventory", kubernetes=True)
        try:
            lab.up(spec)
            kubectl = Kubectl(load(spec.inventory).management_cluster("lab_factory").kubeconfig)
            idle = rss_mib(load_state(spec).kubernetes)
            print(f"management cluster idle: {idle:.0f} MiB RSS")
            print(f"{'clusters':>8} {'kubectl s':>10} {'pulumi s':>9} {'ratio':>6}"
                  f" {'overhead/cluster s':>19} {'peak RSS MiB (kubectl, pulumi)':>31}")
            for count in args.clusters:
                with peak_rss(spec) as baseline_peak:
                    baseline = with_kubectl(kubectl, count)
                kubectl.delete_all()
                with peak_rss(spec) as tcra_peak:
                    measured = with_pulumi(kubectl, count, work)
                print(f"{count:>8} {baseline:>10.1f} {measured:>9.1f}"
                      f" {measured / baseline:>6.2f} {(measured - baseline) / count:>19.2f}"
                      f" {baseline_peak[0]:>15.0f}, {tcra_peak[0]:.0f}", flush=True)
        finally:
            lab.down(spec)


if __name__ == "__main__":
    main()

"""N in-memory workload clusters on the lab's management cluster, made by Cluster API: through
one `pulumi up` of N K8sClusters, beside the same objects applied by `kubectl apply
--server-side`, in one run. Each cluster: a KubeadmControlPlane of 1 and a MachineDeployment of 1.

Timed for each way: from the start until every Cluster is Available; then everything is deleted
again (not timed) before the next. Printed: wall times, the ratio, the overhead per cluster, and
the management cluster's peak RSS (all its processes, sampled every 0.5 s). Brings up its own lab
(with Kubernetes) and takes it down afterwards, or uses a running one (--lab NAME).

Run as root: .venv/bin/python benchmarks/k8s_lab_clusters.py [--clusters 10 50 100] [--lab lab]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml
from kube_bench import Kubectl, kubectl_for, kubernetes_lab, peak_rss, pulumi_project

from tcra.lab.kube.control_plane import rss_mib
from tcra.lab.spec import load_state
from tcra.mcm import ControlPlane, InMemoryInfrastructure, K8sClusterSpec, NodePool, plan

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


class Clusters:
    """Cluster API's Clusters on the management cluster, through kubectl."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.kubeconfig = kubectl.kubeconfig

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return self.kubectl(*args, stdin=stdin)

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


def with_kubectl(clusters: Clusters, count: int) -> float:
    objects = [m for i in range(count) for m in plan(spec_of(i)).manifests()]
    start = time.perf_counter()
    clusters("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(objects))
    clusters.wait_available(count)
    return time.perf_counter() - start


def with_pulumi(clusters: Clusters, count: int, work: Path) -> float:
    pulumi = pulumi_project(work / f"pulumi-{count}", PROGRAM.format(
        kubeconfig=str(clusters.kubeconfig), count=count, version=VERSION), work / "pulumi-home")
    start = time.perf_counter()
    pulumi("up", "--yes", "--skip-preview")
    clusters.wait_available(count)
    elapsed = time.perf_counter() - start
    pulumi("destroy", "--yes", "--skip-preview")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--lab", help="a running lab with Kubernetes to use (else its own)")
    args = parser.parse_args()
    with kubernetes_lab(args.lab) as (spec, work):
        clusters = Clusters(kubectl_for(spec, work))
        idle = rss_mib(load_state(spec).kubernetes)
        print(f"management cluster idle: {idle:.0f} MiB RSS")
        print(f"{'clusters':>8} {'kubectl s':>10} {'pulumi s':>9} {'ratio':>6}"
              f" {'overhead/cluster s':>19} {'peak RSS MiB (kubectl, pulumi)':>31}")
        for count in args.clusters:
            with peak_rss(spec) as baseline_peak:
                baseline = with_kubectl(clusters, count)
            clusters.delete_all()
            with peak_rss(spec) as tcra_peak:
                measured = with_pulumi(clusters, count, work)
            print(f"{count:>8} {baseline:>10.1f} {measured:>9.1f}"
                  f" {measured / baseline:>6.2f} {(measured - baseline) / count:>19.2f}"
                  f" {baseline_peak[0]:>15.0f}, {tcra_peak[0]:.0f}", flush=True)


if __name__ == "__main__":
    main()

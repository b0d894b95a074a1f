"""N Helm releases of one small chart (the lab's opcua-gateway, one pod each) onto site
lab_factory's cluster: through tcra (one `pulumi up` of N Workloads) beside a `helm install
--wait` loop, in one run, each into a namespace of its own.

Timed for each way: the wall time of the command(s), and the time from the start until every
pod is Ready (polled once a second). Printed: both, the ratio, and the overhead per release.
Everything is deleted again (not timed) before the next way. Brings up its own lab (with
Kubernetes) and takes it down afterwards, or uses a running one (--lab NAME).

Run as root: .venv/bin/python benchmarks/helm_releases.py [--releases 50] [--lab lab]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
from pathlib import Path

from kube_bench import TIMEOUT, Kubectl, kubectl_for, kubernetes_lab, pulumi_project

from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.lab.kube.registry import ADDRESS
from tcra.mcm.chart import trust_env

CHART = f"oci://{ADDRESS}/charts/opcua-gateway"
VERSION = "0.1.0"
PROGRAM = """\
from pathlib import Path
from tcra import Workload, WorkloadArgs
from tcra.components.workload import Endpoint
kubeconfig = Path({kubeconfig!r}).read_text()
for i in range({count}):
    Workload(f"bench-{{i}}", WorkloadArgs(
        chart={chart!r}, version={version!r}, namespace={namespace!r}, kubeconfig=kubeconfig,
        endpoint=Endpoint(kind="pod")))
"""


class ReadyClock:
    """Seconds from its start until `count` pods in `namespace` are Ready."""

    def __init__(self, kubectl: Kubectl, namespace: str, count: int) -> None:
        self.kubectl, self.namespace, self.count = kubectl, namespace, count
        self.seconds: float | None = None
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.start = time.perf_counter()
        self.thread.start()

    def _ready(self) -> int:
        pods = json.loads(self.kubectl("get", "pods", "-n", self.namespace, "-o", "json"))
        return sum(any(c["type"] == "Ready" and c["status"] == "True"
                       for c in p.get("status", {}).get("conditions", []))
                   for p in pods["items"])

    def _watch(self) -> None:
        deadline = self.start + TIMEOUT
        while time.perf_counter() < deadline:
            if self._ready() >= self.count:
                self.seconds = time.perf_counter() - self.start
                return
            time.sleep(1)

    def wait(self) -> float:
        self.thread.join()
        if self.seconds is None:
            raise TimeoutError(f"fewer than {self.count} pods Ready in {self.namespace}")
        return self.seconds


def with_helm(kubectl: Kubectl, count: int, ca: Path, work: Path) -> tuple[float, float]:
    namespace = "bench-helm"
    helm = str(binaries.find().helm / "helm")
    env = {**os.environ, **{f"HELM_{k}_HOME": str(work / "helm" / k.lower())
                            for k in ("CONFIG", "CACHE", "DATA")},
           "HELM_REGISTRY_CONFIG": str(work / "helm" / "registry.json"),
           "KUBECONFIG": str(kubectl.kubeconfig)}
    kubectl("create", "namespace", namespace)
    clock = ReadyClock(kubectl, namespace, count)
    for i in range(count):
        subprocess.run([helm, "install", f"bench-{i}", CHART, "--version", VERSION,
                        "--namespace", namespace, "--ca-file", str(ca), "--wait",
                        "--timeout", "5m"], env=env, check=True, capture_output=True,
                       timeout=TIMEOUT)
    wall = time.perf_counter() - clock.start
    ready = clock.wait()
    for i in range(count):
        subprocess.run([helm, "uninstall", f"bench-{i}", "--namespace", namespace], env=env,
                       check=True, capture_output=True, timeout=TIMEOUT)
    kubectl("delete", "namespace", namespace, "--wait", "--timeout", "600s")
    return wall, ready


def with_tcra(kubectl: Kubectl, count: int, trust: Path, work: Path) -> tuple[float, float]:
    namespace = "bench-tcra"
    pulumi = pulumi_project(work / "pulumi", PROGRAM.format(
        kubeconfig=str(kubectl.kubeconfig), count=count, chart=CHART, version=VERSION,
        namespace=namespace), work / "pulumi-home",
        env=trust_env(trust))
    kubectl("create", "namespace", namespace)
    clock = ReadyClock(kubectl, namespace, count)
    pulumi("up", "--yes", "--skip-preview")
    wall = time.perf_counter() - clock.start
    ready = clock.wait()
    pulumi("destroy", "--yes", "--skip-preview")
    kubectl("delete", "namespace", namespace, "--wait", "--timeout", "600s")
    return wall, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--lab", help="a running lab with Kubernetes to use (else its own)")
    args = parser.parse_args()
    with kubernetes_lab(args.lab) as (spec, work):
        kubectl = kubectl_for(spec, work)
        cluster = load(spec.inventory).site("lab_factory").cluster
        assert cluster is not None and cluster.registry_ca is not None
        count = args.releases
        helm_wall, helm_ready = with_helm(kubectl, count, cluster.registry_ca, work)
        tcra_wall, tcra_ready = with_tcra(kubectl, count, cluster.registry_ca.parent, work)
        print(f"{'releases':>8} {'way':>10} {'wall s':>8} {'all Ready s':>12}")
        print(f"{count:>8} {'helm loop':>10} {helm_wall:>8.1f} {helm_ready:>12.1f}")
        print(f"{count:>8} {'tcra':>10} {tcra_wall:>8.1f} {tcra_ready:>12.1f}")
        print(f"ratio tcra/helm: wall {tcra_wall / helm_wall:.2f}, all Ready"
              f" {tcra_ready / helm_ready:.2f}; overhead per release"
              f" {(tcra_wall - helm_wall) / count:+.2f} s")


if __name__ == "__main__":
    main()

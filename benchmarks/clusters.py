"""Build the program for N K8sClusters with M Workloads each under Pulumi's mock engine, beside
the same number of plain pulumi_kubernetes ConfigMaps declared directly, in one run.

Each cluster: four VMs behind a Redfish emulator (a control-plane node and its spare, a pool of
two), its Cluster API and Metal3 objects, the kubeconfig read and a provider; each workload: a
Helm release and its Service read. What is timed is the whole program, from the first declaration
until the mock engine has answered every registration.

.venv/bin/python benchmarks/clusters.py [--clusters 100] [--workloads 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import time
from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.mocks import MockMonitor
from tcra.components.k8s_cluster import K8sCluster, K8sClusterArgs
from tcra.components.workload import Workload, WorkloadArgs

from tcra.mcm import (
    ControlPlaneEndpoint,
    EmulatedVm,
    Image,
    Metal3Infrastructure,
    NodePool,
    machines_from_vms,
)
from tcra.model.host import BmcCredentials

KUBECONFIG = base64.b64encode(b"apiVersion: v1\nkind: Config\n").decode()
SERVICE = {"spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}}


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.resource_id:
            outputs.update({"data": {"value": KUBECONFIG}} if args.typ.endswith("Secret")
                           else SERVICE)
            return args.resource_id, outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class CountingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.count = 0

    def RegisterResource(self, request):  # noqa: N802 - the monitor's gRPC method
        self.count += request.type != "pulumi:pulumi:Stack"
        return super().RegisterResource(request)

    def ReadResource(self, request):  # noqa: N802 - the monitor's gRPC method
        self.count += 1
        return super().ReadResource(request)


def clusters_program(clusters: int, workloads: int) -> Callable[[], None]:
    reference = "env:TCRA_BENCH_BMC_PASSWORD"  # where the password is, not the password
    credentials = BmcCredentials(username="admin", password=reference)
    image = Image(url="http://172.22.0.1/images/node.qcow2", checksum="ab" * 32,
                  checksum_type="sha256", disk_format="qcow2")

    def program() -> None:
        management = k8s.Provider("management", kubeconfig="management-kubeconfig")
        for c in range(clusters):
            vms = [EmulatedVm(name=f"c{c}-vm-{v}", domain_uuid=f"{c:08d}-0000-4000-8000-{v:012d}")
                   for v in range(4)]
            cluster = K8sCluster(f"c{c}", K8sClusterArgs(
                name=f"c{c}", namespace="clusters", kubernetes_version="v1.30.4",
                infrastructure=Metal3Infrastructure(
                    endpoint=ControlPlaneEndpoint(host=f"10.{c // 250}.{c % 250}.10"), image=image,
                    machines=machines_from_vms(vms, emulator="http://192.168.111.1:8000",
                                               credentials=credentials)),
                pools=(NodePool(name="workers", replicas=2),), management=management))
            for w in range(workloads):
                Workload(f"c{c}-w{w}", WorkloadArgs(
                    cluster=cluster, chart="podinfo", version="6.7.1", namespace=f"w{w}",
                    repository="https://stefanprodan.github.io/podinfo",
                    values={"replicaCount": 2}))
    return program


def configmaps_program(count: int) -> Callable[[], None]:
    def program() -> None:
        provider = k8s.Provider("management", kubeconfig="management-kubeconfig")
        options = pulumi.ResourceOptions(provider=provider)
        for i in range(count):
            k8s.core.v1.ConfigMap(f"cm-{i}", metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"cm-{i}", namespace="clusters"), data={"index": str(i)}, opts=options)
    return program


def timed(program: Callable[[], None]) -> tuple[float, int]:
    """Seconds for the program and its registrations to finish; how many it registered."""
    mocks = Mocks()
    monitor = CountingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)
    start = time.perf_counter()
    pulumi.runtime.test(program)()
    return time.perf_counter() - start, monitor.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--workloads", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TCRA_BENCH_BMC_PASSWORD", "bench")
    ours, baseline = [], []
    for _ in range(args.runs):
        seconds, resources = timed(clusters_program(args.clusters, args.workloads))
        ours.append(seconds)
        plain, plain_resources = timed(configmaps_program(resources - 1))  # and a provider
        baseline.append(plain)
    tcra, plain = statistics.median(ours), statistics.median(baseline)
    print(f"{args.clusters} K8sClusters x {args.workloads} Workloads under the mock engine,"
          f" median of {args.runs} runs")
    print(f"  tcra K8sCluster + Workload  {tcra:8.3f} s  {resources:6,d} resources"
          f"  {tcra / resources * 1e3:6.3f} ms/resource")
    print(f"  baseline plain ConfigMaps   {plain:8.3f} s  {plain_resources:6,d} resources"
          f"  {plain / plain_resources * 1e3:6.3f} ms/resource")
    print(f"  ratio tcra/baseline         {tcra / plain:8.2f}x (per resource"
          f" {(tcra / resources) / (plain / plain_resources):.2f}x)")


if __name__ == "__main__":
    main()

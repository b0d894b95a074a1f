"""The live resource repository read from the tests' Kubernetes lab: a pod with requests on
the cluster of site lab_factory takes them from the cluster's room."""

import subprocess
import textwrap

import pytest

from tcra.inventory import load
from tcra.lab.inventory_writer import HYPERVISOR_SITE
from tcra.lab.kube import binaries
from tcra.mco.live import read
from tcra.mco.repository import from_inventory
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]
MI = 2**20


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: citlive-asks, namespace: default}
    spec:
      containers:
      - name: asks
        image: 127.0.0.1:1/never-pulled:0  # pending or not, its requests hold room
        resources: {requests: {cpu: 100m, memory: 64Mi}}
    """)


def test_a_pod_with_requests_takes_them_from_the_cluster_room(kubernetes_lab):
    inventory = load(kubernetes_lab.get().inventory)
    cluster = inventory.site(HYPERVISOR_SITE).cluster
    assert cluster is not None, "the Kubernetes lab gives site lab_factory its cluster"

    def kubectl(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([binaries.find().kubectl(), "--kubeconfig",
                               str(cluster.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"

    (before,) = read(inventory).clusters
    assert (before.site, before.cluster) == (HYPERVISOR_SITE, cluster.name)
    assert before.cpu > 0.1 and before.memory.bytes > 64 * MI
    try:
        kubectl("apply", "-f", "-", stdin=POD)
        (during,) = read(inventory).clusters
        assert before.cpu - during.cpu == pytest.approx(0.1)
        assert before.memory.bytes - during.memory.bytes == 64 * MI
        (room,) = [c for c in from_inventory(inventory, live=read(inventory)).clusters
                   if c.name == cluster.name]
        assert room.free.cpu <= during.cpu and room.free.memory <= during.memory
    finally:
        kubectl("delete", "pod", "citlive-asks", "--namespace=default", "--ignore-not-found",
                "--timeout=120s")

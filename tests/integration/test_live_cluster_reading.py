"""The live resource repository read from the tests' Kubernetes lab: a pod with requests on
the node of site lab_faredge takes them from that site's room in the cluster, and from no
other site's."""

import subprocess
import textwrap

import pytest

from tcra.inventory import load
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
      nodeSelector: {tcra.io/site: lab_faredge}
      containers:
      - name: asks
        image: 127.0.0.1:1/never-pulled:0  # pending or not, its requests hold room
        resources: {requests: {cpu: 100m, memory: 64Mi}}
    """)


def test_a_pod_with_requests_takes_them_from_its_site_s_room(kubernetes_lab):
    inventory = load(kubernetes_lab.get().inventory)
    cluster = inventory.site("lab_faredge").cluster
    assert cluster is not None, "the Kubernetes lab gives each site its share of its cluster"

    def kubectl(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([binaries.find().kubectl(), "--kubeconfig",
                               str(cluster.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"

    def rooms():
        return {c.site: c for c in read(inventory).clusters}

    before = rooms()
    assert sorted(before) == ["lab_factory", "lab_faredge"]
    assert {c.cluster for c in before.values()} == {cluster.name}
    assert before["lab_faredge"].cpu > 0.1 and before["lab_faredge"].memory.bytes > 64 * MI
    try:
        kubectl("apply", "-f", "-", stdin=POD)
        during = rooms()
        assert before["lab_faredge"].cpu - during["lab_faredge"].cpu == pytest.approx(0.1)
        assert before["lab_faredge"].memory.bytes - during["lab_faredge"].memory.bytes == 64 * MI
        assert during["lab_factory"] == before["lab_factory"]
        (room,) = [c for c in from_inventory(inventory, live=read(inventory)).clusters
                   if c.site == "lab_faredge"]
        assert room.free.cpu <= during["lab_faredge"].cpu
        assert room.free.memory <= during["lab_faredge"].memory
    finally:
        kubectl("delete", "pod", "citlive-asks", "--namespace=default", "--ignore-not-found",
                "--timeout=120s")

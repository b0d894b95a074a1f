"""The lab's Kubernetes node per site, as planned: names the kernel and kubelet accept, nothing
shared between the two nodes but the cluster, each on its site's pod network of the fabric."""

import json
from pathlib import Path

from tcra.lab import fabric
from tcra.lab.kube import node
from tcra.lab.spec import LabKubernetes, LabSpec


def test_each_site_gets_a_node_of_its_own_on_its_hbr_s_pod_network(tmp_path):
    spec = LabSpec(name="abcdefghijkl", state_root=tmp_path)  # the longest name a lab takes
    hbrs = {h.name: h for h in fabric.plan(spec).fabric.hbrs}
    nodes = [node.plan(tmp_path, spec.name, Path("/programs"), site, i, None, hbrs[site].pods)
             for i, site in enumerate(("lab_factory", "lab_faredge"))]
    assert [n.name for n in nodes] == ["tcra-abcdefghijkl-kube-factory",
                                       "tcra-abcdefghijkl-kube-faredge"]
    for key in ("bridge", "run_folder", "folder", "cgroup_root", "pod_cidr"):
        assert len({getattr(n, key) for n in nodes}) == 2, key
    outside = {n.hbr_port for n in nodes}  # fabric.attach_pods's veth ends
    assert all(len(name) <= 15 for name in {n.bridge for n in nodes} | outside)
    assert not outside & {n.bridge for n in nodes}
    assert [n.address for n in nodes] == ["10.244.0.1", "10.244.1.1"]
    assert [n.pods.prefix for n in nodes] == [hbrs["lab_factory"].pods.prefix,
                                              hbrs["lab_faredge"].pods.prefix]
    assert all(len(str(n.socket)) < 108 - len("/kubelet/pod-resources/kubelet.sock")
               for n in nodes)
    argv = node.kubelet_argv(nodes[1], Path("/programs"))
    assert argv[argv.index("--node-labels") + 1] == "tcra.io/site=lab_faredge"
    assert {node.kubelet_name(n) for n in nodes} == {"kubelet-factory", "kubelet-faredge"}


def test_the_state_of_a_lab_with_the_one_node_of_an_older_tcra_reads_as_this_one_s(tmp_path):
    """So `tcra lab down` after an upgrade still finds that node's pods, bridge and cgroups."""
    older = {
        "folder": str(tmp_path), "ports": {"apiserver": 6443},
        "kubeconfig": str(tmp_path / "admin.kubeconfig"), "registry": "127.0.0.1:5443",
        "components": [{"name": name, "process": {"pid": 4242, "program": name},
                        "health": "http://127.0.0.1:1/healthz"}
                       for name in ("etcd", "containerd", "kubelet")],
        "node": {"name": "tcra-lab-node", "folder": str(tmp_path / "node"),
                 "run_folder": "/run/tcra/lab", "crictl": "/programs/crictl",
                 "bridge": "tk-lab", "cgroup_root": "/tcra-lab",
                 "ports": {"kubelet": 1, "kubelet-health": 2, "containerd-metrics": 3},
                 "created_paths": [], "pods": None}}
    read = LabKubernetes.model_validate_json(json.dumps(older))
    [only] = read.nodes
    assert (only.site, only.bridge, only.cgroup_root, only.address) == (
        "lab_factory", "tk-lab", "/tcra-lab", "10.244.0.1")
    assert [c.name for c in read.components] == ["etcd", node.containerd_name(only),
                                                 node.kubelet_name(only)]
    assert LabKubernetes.model_validate_json(read.model_dump_json()) == read

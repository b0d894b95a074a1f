"""docs/mcm.md's program: at most 20 lines, and it previews with no cluster anywhere."""

import re

import pulumi
import yaml
from pulumi.runtime import rpc

from tests.conftest import ROOT
from tests.unit.test_k8s_cluster import run

DOC = ROOT / "docs" / "mcm.md"
SITE = {"tier": "edge", "location": {"lat": 48.1772, "lon": 11.5562}, "provider": "tcra lab",
        "jurisdiction": "DE", "energy": {"price_per_kwh": 0.21, "carbon_intensity": 380,
                                         "pue": 1.6, "renewable_share": 0.45}}


def program_text() -> str:
    section = DOC.read_text().split("## A 3-node cluster on the lab", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]


def write_lab_inventory(root, password_file):
    """What `tcra lab up --nodes 6` writes, for its three lab_factory nodes."""
    nodes = {f"tcra-lab-node-{i}": f"0c7d6a1e-5b7e-4c52-9d4f-00000000000{i}" for i in (0, 2, 4)}
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"sites": {
        "children": {"lab_factory": {"hosts": dict.fromkeys(nodes)}}}}}}))
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "tcra_bmc_credentials": {"username": "admin", "password": f"file:{password_file}"},
        "tcra_capabilities": {"cores": 2, "memory": "4Gi"}}))
    (root / "group_vars" / "lab_factory.yml").write_text(yaml.safe_dump({"tcra_site": SITE}))
    for name, uuid in nodes.items():
        (root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"tcra_bmc": {
            "address": "http://127.0.0.1:8000", "system_id": uuid, "auth": "basic"}}))


def test_the_program_is_twenty_lines_at_most():
    assert len([line for line in program_text().splitlines() if line.strip()]) <= 20


def test_the_program_previews_offline(tmp_path, monkeypatch):
    password = tmp_path / "bmc-password"
    password.write_text("lab-password\n")
    write_lab_inventory(tmp_path / "inventories" / "lab", password)
    monkeypatch.chdir(tmp_path)
    pulumi.runtime.set_config("project:management", str(tmp_path / "management-kubeconfig"))
    seen = {}

    def program():
        scope = {}
        exec(compile(program_text(), str(DOC), "exec"), scope)  # noqa: S102 - our own docs
        podinfo = scope["podinfo"]

        async def probe(_):
            seen["endpoint known"] = await podinfo.endpoint.is_known()
        return podinfo.release.urn.apply(probe)

    recorder, _ = run(program, preview=True)
    kinds = [r.inputs.get("kind") for r in recorder.registered.values()]
    assert kinds.count("BareMetalHost") == 3 and kinds.count("Secret") == 3
    assert {"Cluster", "Metal3Cluster", "KubeadmControlPlane", "MachineDeployment",
            "KubeadmConfigTemplate"} <= set(kinds)
    host = recorder.registered["lab-tcra-lab-node-0"].inputs
    assert host["spec"]["bmc"]["address"] == (
        "redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/"
        "0c7d6a1e-5b7e-4c52-9d4f-000000000000")
    workers = recorder.registered["lab-workers"].inputs["spec"]
    assert workers["replicas"] == 2 and workers["template"]["spec"]["version"] == "v1.30.4"
    assert recorder.registered["lab-kubeconfig"].read_id == rpc.UNKNOWN
    release = recorder.registered["podinfo-release"]
    assert release.provider.startswith(recorder.urn("lab-workload") + "::")
    assert recorder.urn("lab-addon-cni") in release.dependencies
    assert seen == {"endpoint known": False}

"""The tcra command as a user runs it: a real process, its exit code and its output."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tcra
from tests.conftest import BROKEN, EXAMPLE

TCRA = str(Path(sys.executable).parent / "tcra")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TCRA, *args], capture_output=True, text=True, check=False, env=env,
                          timeout=60)


def test_validate_good_inventory_exits_zero():
    result = run("validate", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid, 5 site(s), 9 host(s)" in result.stdout


def test_validate_broken_inventory_prints_one_line_per_problem():
    result = run("validate", str(BROKEN))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("site plant_a: tcra_site.tier:")
    assert any(line.startswith("host node-a1: tcra_bmc.address: missing") for line in lines)


def test_schema_is_json_schema_of_sites_and_hosts():
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Inventory"
    assert {"Site", "Host", "BmcEndpoint", "Capabilities"} <= set(schema["$defs"])
    tier = schema["$defs"]["Tier"]["enum"]
    assert tier == ["far-edge", "edge", "regional", "core"]


def test_hosts_refuses_a_broken_inventory_before_calling_any_bmc():
    result = run("hosts", str(BROKEN))
    assert result.returncode == 1
    assert "tcra_bmc.address: missing" in result.stdout


def test_lab_options_are_checked_before_anything_starts(tmp_path):
    result = run("lab", "up", "--nodes", "0", "--memory", "lots", "--state-root", str(tmp_path))
    assert result.returncode == 2
    assert "tcra lab: nodes: Input should be greater than or equal to 1 (got 0)" in result.stdout
    assert "tcra lab: memory: expected a whole number of bytes" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_public_api_exports_what_it_lists():
    for name in tcra.__all__:
        assert getattr(tcra, name) is not None
    assert {"Site", "Host", "Inventory", "load_inventory", "TcraError"} <= set(tcra.__all__)


def test_folders_import_into_the_tcra_namespace():
    import tcra.blueprints
    import tcra.components
    import tcra.providers

    root = Path(__file__).resolve().parents[2]
    assert Path(tcra.providers.__file__).parent == root / "providers"
    assert Path(tcra.components.__file__).parent == root / "components"
    assert Path(tcra.blueprints.__file__).parent == root / "blueprints"


REQUEST = str(Path(__file__).resolve().parents[2] / "examples" / "manufacturing-request.yaml")


def test_place_prints_an_explained_plan(bmc_password):
    result = run("place", REQUEST, "--inventory", str(EXAMPLE), "--explain", env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "visual-inspection" in result.stdout
    assert "visual-inspection: factory_lyon rejected: needs 1 GPU(s), 0 free" in result.stdout
    assert "mqtt-lyon: factory_munich rejected: jurisdiction DE not allowed (FR)" in result.stdout


def test_place_json_and_a_store_make_the_next_run_sticky(bmc_password, tmp_path):
    store = f"sqlite:///{tmp_path / 'mco.db'}"
    # --no-live: the example inventory's BMCs and hypervisors are not there to read
    first = run("place", REQUEST, "--inventory", str(EXAMPLE), "--json", "--store", store,
                "--no-live", env=_env())
    second = run("place", REQUEST, "--inventory", str(EXAMPLE), "--json", "--store", store,
                 "--no-live", env=_env())
    assert first.returncode == second.returncode == 0, first.stdout + first.stderr
    before, after = json.loads(first.stdout), json.loads(second.stdout)
    assert {a["workload"]: a["site"] for a in before["assignments"]} == {
        a["workload"]: a["site"] for a in after["assignments"]}
    assert before["assignments"][0]["site"] == "factory_munich"


def test_place_refuses_a_bad_request(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("request:\n  name: x\n  workloads:\n    - name: w\n"
                   "      resources: {cpu: -1, memory: 1Gi}\n")
    result = run("place", str(bad), "--inventory", str(EXAMPLE), env=_env())
    assert result.returncode == 1
    assert f"{bad}: request.workloads.0.resources.cpu: Input should be greater than 0" \
        in result.stdout


def test_continuum_generate_is_reproducible():
    first = run("continuum", "generate", "--sites", "5", "--workloads", "8", "--seed", "7")
    again = run("continuum", "generate", "--sites", "5", "--workloads", "8", "--seed", "7")
    assert first.returncode == 0 and first.stdout == again.stdout
    assert len(json.loads(first.stdout)["repository"]["sites"]) == 5


def _env():
    import os

    return {**os.environ, "TCRA_BMC_PASSWORD": "unused"}


def test_hosts_with_a_missing_ca_bundle_prints_one_line_before_any_bmc(tmp_path):
    from tests.unit.test_inventory import HOST, SITE, _inventory

    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    missing = "/nonexistent/ca.pem"  # short: a long value would be excerpted
    host = HOST.replace('system_id: "1"', f'system_id: "1", ca_bundle: {missing}')
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE, "host_vars/h1.yml": host})
    result = run("hosts", str(path))
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout == ("host h1: tcra_bmc.ca_bundle: expected the path of a CA bundle file"
                             f" that exists (got '{missing}')\n")


def test_place_refuses_non_finite_cpus_and_excerpts_a_huge_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"request:\n  name: {'n' * 5_000_000}\n  workloads:\n    - name: w\n"
                   "      resources: {cpu: .inf, memory: 1Gi}\n")
    result = run("place", str(bad), "--inventory", str(EXAMPLE), env=_env())
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}: request.name: expected a name of lower-case letters, digits, '-' and '_',"
        f" starting with a letter, at most 63 characters (got '{'n' * 80}'..."
        " (5,000,000 characters))",
        f"{bad}: request.workloads.0.resources.cpu: Input should be a finite number (got inf)"]


def test_workloads_lists_the_inventory_as_deployed_per_workload(tmp_path):
    from tcra.providers.workload_inventory import WorkloadInventoryProvider

    from tcra.mco.plan import Plan
    from tcra.mco.store import Store
    from tests.unit.test_workload_inventory import OTHER, OWNER, props

    store = f"sqlite:///{tmp_path / 'mco.db'}"
    WorkloadInventoryProvider().create(props(store))
    other = props(store, service="lab", owner=OTHER, mqtt=None, vision=None)
    other["hosts"] = []
    WorkloadInventoryProvider().create(other)
    Store(store).record_plan(Plan(service="planned-only", tenant="default"))  # not deployed
    listed = run("workloads", "--json", "--store", store)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["service"], r["workload"]) for r in rows] == [
        ("lab", "historian"), ("lab", "mqtt"), ("lab", "vision"),
        ("plant", "historian"), ("plant", "mqtt"), ("plant", "vision")]
    assert rows[4] == {"service": "plant", "tenant": "ot", "workload": "mqtt",
                       "site": "factory_munich", "form": "caf",
                       "deployed": {"cluster": "plant-munich", "release": "mqtt",
                                    "namespace": "ot", "sid": "fcbb:bb00:1::e"},
                       "hosts": ["munich-edge-01"]}
    assert rows[1]["deployed"] == {} and rows[1]["hosts"] == []  # placed, nothing made
    assert OWNER not in listed.stdout
    table = run("workloads", "--store", store)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert any("plant" in line and "release ot/mqtt on cluster plant-munich" in line
               and "fcbb:bb00:1::e" in line and "munich-edge-01" in line for line in lines)
    assert any("vision" in line and "host serial SN-LYON-01" in line and "lyon-edge-01" in line
               for line in lines)
    assert any("historian" in line and "VM 0b7f5a54-49a1-4b4e-9d4e-2f1b3f0c0001" in line
               and "munich-hv-01" in line for line in lines)
    # an inventory naming the store (tcra_store of group all) lists the same
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    with (inventory / "group_vars" / "all.yml").open("a") as all_vars:
        all_vars.write(f"tcra_store: {store}\n")
    named = run("workloads", "--json", "--inventory", str(inventory))
    assert named.returncode == 0, named.stdout + named.stderr
    assert json.loads(named.stdout) == rows

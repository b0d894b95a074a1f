"""`tcra chain vars`: the tcra.telco.hbr role's variables for remote HBRs, from the same route
computation SRv6Chain applies, in the shape the role's argument spec accepts."""

import shutil

import yaml

from tcra.model.fabric import Chain, Fabric
from tcra.tcm.compute import compute
from tcra.tcm.role_vars import role_vars
from tcra.tcm.route import Route
from tests.conftest import EXAMPLE, ROOT
from tests.unit.test_cli import run

SPEC = ROOT / "collections/ansible_collections/tcra/telco/roles/hbr/meta/argument_specs.yml"
FABRIC = {
    "hbrs": [
        {"name": "hbr-cell", "site": "faredge_munich", "host": "munich-cell-01",
         "locator": "fd00:1::/48", "uplink": "eth0", "interfaces": ["eth0"]},
        {"name": "hbr-plant", "site": "factory_munich", "host": "munich-edge-01",
         "locator": "fd00:2::/48", "uplink": "eth0", "interfaces": ["eth0", "fw0", "app0"]},
    ],
    "endpoints": [
        {"workload": "fw", "hbr": "hbr-plant", "address": "fd00:f0::2", "dev": "fw0"},
        {"workload": "app", "hbr": "hbr-plant", "address": "fd00:f2::2", "dev": "app0"},
    ],
}
CHAIN = {"name": "web", "ingress": "hbr-cell", "destination": "fd00:40::/64",
         "functions": ["fw"], "egress": "app"}


def test_the_vars_are_the_computed_routes_in_the_role_s_shape():
    fabric, chain = Fabric.model_validate(FABRIC), Chain.model_validate(CHAIN)
    plan = compute(fabric, chain)
    hosts = role_vars(fabric, plan, owner="tcra/web/lab@ops")
    assert set(hosts) == {"munich-cell-01", "munich-edge-01"}  # the HBRs' inventory hosts
    plant = hosts["munich-edge-01"]
    assert (plant["hbr_locator"], plant["hbr_locator_dev"], plant["hbr_netns"],
            plant["hbr_owner"]) == ("fd00:2::/48", "eth0", "", "tcra/web/lab@ops")
    for host, config in zip(hosts.values(), plan.hbrs, strict=True):
        # what the role installs is exactly what compute gave SRv6Chain
        assert tuple(Route.model_validate(r) for r in host["hbr_routes"]) == config.routes
    options = yaml.safe_load(SPEC.read_text())["argument_specs"]["main"]["options"]
    route_options = set(options["hbr_routes"]["options"])
    for values in hosts.values():
        assert set(values) <= set(options)
        assert {k for k, o in options.items() if o.get("required")} <= set(values)
        for route in values["hbr_routes"]:
            assert set(route) <= route_options
    (encap,) = hosts["munich-cell-01"]["hbr_routes"]
    assert encap == {"dst": "fd00:40::/64", "dev": "eth0",
                     "segments": [str(plan.sids["fw"]), str(plan.sids["app"])]}
    assert "hbr_owner" not in role_vars(fabric, plan)["munich-cell-01"]


def inventory_with_fabric(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    with (inventory / "group_vars" / "all.yml").open("a") as all_vars:
        all_vars.write(yaml.safe_dump({"tcra_fabric": FABRIC}))
    chain = tmp_path / "web.yml"
    chain.write_text(yaml.safe_dump(CHAIN))
    return inventory, chain


def test_the_command_prints_writes_and_refuses_clearly(tmp_path):
    inventory, chain = inventory_with_fabric(tmp_path)
    printed = run("chain", "vars", str(inventory), str(chain), "--host", "munich-edge-01")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert printed.stdout.startswith("# Written by `tcra chain vars`")
    fabric = Fabric.model_validate(FABRIC)
    expected = role_vars(fabric, compute(fabric, Chain.model_validate(CHAIN)))
    assert yaml.safe_load(printed.stdout) == expected["munich-edge-01"]
    everything = run("chain", "vars", str(inventory), str(chain))
    assert yaml.safe_load(everything.stdout) == expected

    host_vars = tmp_path / "playbook" / "host_vars"
    written = run("chain", "vars", str(inventory), str(chain), "--out", str(host_vars),
                  "--owner", "ops")
    assert written.returncode == 0, written.stdout
    assert {f.name for f in host_vars.iterdir()} == {"munich-cell-01.yml", "munich-edge-01.yml"}
    assert yaml.safe_load((host_vars / "munich-cell-01.yml").read_text())["hbr_owner"] == "ops"
    again = run("chain", "vars", str(inventory), str(chain), "--out", str(host_vars))
    assert again.returncode == 0  # its own files are rewritten

    (host_vars / "munich-edge-01.yml").write_text("ansible_host: 192.0.2.7\n")
    theirs = run("chain", "vars", str(inventory), str(chain), "--out", str(host_vars))
    assert theirs.returncode == 2
    assert "munich-edge-01.yml exist and were not written by tcra chain vars" in theirs.stdout
    assert (host_vars / "munich-edge-01.yml").read_text() == "ansible_host: 192.0.2.7\n"

    unknown = run("chain", "vars", str(inventory), str(chain), "--host", "lyon-edge-01")
    assert unknown.returncode == 2
    assert unknown.stdout.strip() == (
        "tcra chain vars: --host: expected the host of an HBR chain web uses (munich-cell-01,"
        " munich-edge-01) (got 'lyon-edge-01')")
    chain.write_text(yaml.safe_dump({**CHAIN, "functions": ["ghost"]}))
    bad = run("chain", "vars", str(inventory), str(chain))
    assert bad.returncode == 1
    assert bad.stdout.startswith("chain web: functions: expected a workload with an endpoint"
                                 " in the fabric (app, fw) (got 'ghost')")
    no_fabric = run("chain", "vars", str(EXAMPLE), str(chain))
    assert no_fabric.returncode == 1 and "tcra_fabric: missing" in no_fabric.stdout


def test_an_hbr_serving_a_site_the_inventory_lacks_is_refused(tmp_path):
    inventory, _ = inventory_with_fabric(tmp_path)
    hbrs = [{**FABRIC["hbrs"][0], "site": "atlantis"}, FABRIC["hbrs"][1]]
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(
        {"tcra_bmc_credentials": {"username": "tcra", "password": "env:TCRA_BMC_PASSWORD"},
         "tcra_fabric": {**FABRIC, "hbrs": hbrs}}))
    result = run("validate", str(inventory))
    assert result.returncode == 1
    assert "fabric: tcra_fabric.hbrs.0.site: expected one of the inventory's sites" \
        " (core_stockholm, factory_lyon, factory_munich, faredge_munich, regional_frankfurt)" \
        " (got 'atlantis')" in result.stdout

"""Loading inventories through ansible-core: the shipped example, and every kind of mistake."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tcra.errors import InvalidInputError
from tcra.inventory import load
from tcra.model import Quantity, Tier
from tests.conftest import BROKEN, EXAMPLE


def test_example_describes_the_continuum():
    inventory = load(EXAMPLE)
    tiers = {site.id: site.tier for site in inventory.sites}
    assert [s for s, t in tiers.items() if t is Tier.EDGE] == ["factory_lyon", "factory_munich"]
    assert sorted(tiers.values()).count(Tier.FAR_EDGE) == 1
    assert Tier.REGIONAL in tiers.values()
    assert Tier.CORE in tiers.values()
    assert len({site.jurisdiction for site in inventory.sites}) >= 3
    assert len({site.energy.carbon_intensity for site in inventory.sites}) >= 4
    assert len(inventory.hosts) == 9


def test_example_reads_host_and_group_vars_with_ansible_precedence():
    inventory = load(EXAMPLE)
    lyon = {h.name: h for h in inventory.hosts_at("factory_lyon")}
    # factory_lyon.yml overrides the all-hosts credentials; host_vars give BMC and capabilities.
    assert lyon["lyon-edge-01"].bmc.credentials.username == "tcra-lyon"
    assert lyon["lyon-edge-01"].bmc.system_id == "System.Embedded.1"
    assert lyon["lyon-edge-01"].capabilities.hugepages[0].size == Quantity("2Mi")
    munich = inventory.hosts_at("factory_munich")
    assert {h.bmc.credentials.username for h in munich} == {"tcra"}
    assert inventory.site("faredge_munich").network.locator is not None


def test_ansible_reads_the_same_folder():
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(EXAMPLE), "--list"],
        check=True, capture_output=True, text=True,
    )
    ansible_hosts = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert sorted(ansible_hosts) == sorted(h.name for h in load(EXAMPLE).hosts)
    assert ansible_hosts["munich-edge-01"]["tcra_site"]["jurisdiction"] == "DE"


def test_broken_inventory_names_every_problem_once():
    with pytest.raises(InvalidInputError) as caught:
        load(BROKEN)
    lines = str(caught.value).splitlines()
    assert lines == [
        "site plant_a: tcra_site.tier: Input should be 'far-edge', 'edge', 'regional' or 'core'"
        " (got 'factory')",
        "site plant_a: tcra_site.location.lat: Input should be less than or equal to 90 (got 123)",
        'site plant_b: tcra_site.network.locator: expected an IPv6 prefix with no host bits set,'
        ' like "2001:db8:1::/48" (Only hex digits permitted in \'zz\' in \'2001:db8:zz::\')'
        " (got '2001:db8:zz::/48')",
        "host node-a1: tcra_bmc.address: missing; this field is required",
        "host node-twin: site: expected the host in exactly one site group; it is in plant_a,"
        " plant_b (a duplicate host name?)",
    ]


def _inventory(tmp_path: Path, hosts_yml: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / "hosts.yml").write_text(hosts_yml)
    for name, text in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


SITE = """tcra_site:
  tier: edge
  location: {lat: 1, lon: 2}
  provider: p
  jurisdiction: DE
  energy: {price_per_kwh: 0.1, carbon_intensity: 100, pue: 1.2, renewable_share: 0.5}
"""
HOST = """tcra_bmc: {address: https://192.0.2.1, system_id: "1"}
tcra_bmc_credentials: {username: u, password: "env:X"}
tcra_capabilities: {cores: 4, memory: 8Gi}
"""


def test_duplicate_yaml_key_is_an_error_not_last_wins(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n            h1:\n"
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE, "host_vars/h1.yml": HOST})
    with pytest.raises(InvalidInputError, match=r"hosts\.yml:8:13: not valid YAML: duplicate"
                       " key 'h1'"):
        load(path)


def test_duplicate_keys_in_host_and_group_vars_are_errors_too(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    path = _inventory(tmp_path, hosts, {
        "group_vars/s1.yml": SITE.replace("  tier: edge\n", "  tier: edge\n  tier: core\n"),
        "host_vars/h1.yml": HOST + "tcra_capabilities: {cores: 64, memory: 8Gi}\n"})
    with pytest.raises(InvalidInputError) as caught:
        load(path)
    assert str(caught.value).splitlines() == [
        f"{path}/group_vars/s1.yml:3:3: not valid YAML: duplicate key 'tier' (YAML would keep"
        " only the last)",
        f"{path}/host_vars/h1.yml:4:1: not valid YAML: duplicate key 'tcra_capabilities' (YAML"
        " would keep only the last)"]


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE})
    (path / "host_vars").mkdir()
    (path / "host_vars" / "h1.yml").write_bytes(HOST.replace("u,", "\xfc,").encode("latin-1"))
    with pytest.raises(InvalidInputError) as caught:
        load(path)
    assert str(caught.value) == (f"{path}/host_vars/h1.yml: not UTF-8 text (byte 0xfc at"
                                 " offset 88)")


def test_absurd_numbers_and_a_missing_ca_bundle_are_one_line_each(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    missing = "/nonexistent/ca.pem"  # short: a long value would be excerpted
    host = HOST.replace('system_id: "1"', f'system_id: "1", ca_bundle: {missing}')
    host = host.replace("cores: 4", f"cores: {10**400}, fpga: .inf")
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE.replace("pue: 1.2", "pue: .nan"),
                                         "host_vars/h1.yml": host})
    with pytest.raises(InvalidInputError) as caught:
        load(path)
    assert str(caught.value).splitlines() == [
        "site s1: tcra_site.energy.pue: Input should be a finite number (got nan)",
        f"host h1: tcra_bmc.ca_bundle: expected the path of a CA bundle file that exists"
        f" (got '{missing}')",
        "host h1: tcra_capabilities.cores: Input should be less than or equal to 2147483647"
        " (got <a 400-digit number>)",
        "host h1: tcra_capabilities.fpga: Input should be a finite number (got inf)"]


def test_a_huge_value_is_excerpted_once(tmp_path):
    name = "x" * 5_000_000
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE.replace("provider: p",
                                                                           f"provider: p\n  bad:"
                                                                           f" {name}"),
                                         "host_vars/h1.yml": HOST})
    with pytest.raises(InvalidInputError) as caught:
        load(path)
    assert str(caught.value) == ("site s1: tcra_site.bad: unknown field; check its spelling"
                                 f" against `tcra schema` (got '{'x' * 80}'..."
                                 " (5,000,000 characters))")


def test_unknown_field_and_plain_password_are_refused(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    host = HOST.replace('"env:X"', "hunter2").replace("cores: 4", "cores: 4, cpus: 4")
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE, "host_vars/h1.yml": host})
    with pytest.raises(InvalidInputError) as caught:
        load(path)
    message = str(caught.value)
    assert "host h1: tcra_bmc_credentials.password: expected a secret reference" in message
    assert "hunter2" not in message and "(value hidden: a secret)" in message
    assert "host h1: tcra_capabilities.cpus: unknown field" in message


def test_two_hosts_on_one_bmc_system_are_refused(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n            h2:\n"
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE, "host_vars/h1.yml": HOST,
                                         "host_vars/h2.yml": HOST})
    with pytest.raises(InvalidInputError, match=r"h2: tcra_bmc\.system_id: the same BMC system"):
        load(path)


def test_missing_sites_group_and_missing_path(tmp_path):
    with pytest.raises(InvalidInputError, match="no group named 'sites'"):
        load(_inventory(tmp_path, "all:\n  hosts:\n    h1:\n"))
    with pytest.raises(InvalidInputError, match="no inventory at this path"):
        load(tmp_path / "nowhere")


def test_unparseable_file_is_reported_with_ansibles_reason(tmp_path):
    with pytest.raises(InvalidInputError, match=r"hosts\.yml: Ansible cannot read this file"):
        load(_inventory(tmp_path, "all:\n  children: [unclosed\n"))
    (tmp_path / "hosts.yml").write_text("[sites:children]\ns1\n[s1]\nh1\n")  # INI is Ansible's
    with pytest.raises(InvalidInputError, match="site s1: tcra_site: missing"):
        load(tmp_path / "hosts.yml")


def test_hypervisors_need_no_bmc_and_ansible_only_hosts_are_left_out(tmp_path):
    hosts = ("all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n"
             "            h1:\n            hv1:\n    hbr:\n      hosts:\n        r1:\n")
    hypervisor = ('tcra_libvirt_uri: "qemu+ssh://root@hv1/system"\n'
                  "tcra_capabilities: {cores: 32, memory: 256Gi,"
                  " hugepages: [{size: 1Gi, count: 64}]}\n")
    path = _inventory(tmp_path, hosts, {"group_vars/s1.yml": SITE, "host_vars/h1.yml": HOST,
                                         "host_vars/hv1.yml": hypervisor})
    inventory = load(path)
    assert [h.name for h in inventory.hosts] == ["h1"]
    [hv1] = inventory.hypervisors
    assert (hv1.name, hv1.site, hv1.libvirt_uri) == ("hv1", "s1", "qemu+ssh://root@hv1/system")
    assert hv1.capabilities.hugepages[0].count == 64

    (tmp_path / "host_vars/hv1.yml").write_text(hypervisor.replace("qemu+ssh", "xen+ssh"))
    with pytest.raises(InvalidInputError, match="host hv1: tcra_libvirt_uri: expected a libvirt"):
        load(path)


def test_the_store_of_group_all_is_read_and_a_wrong_one_refused(tmp_path):
    hosts = "all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n" \
            "            h1:\n"
    files = {"group_vars/s1.yml": SITE, "host_vars/h1.yml": HOST,
             "group_vars/all.yml": "tcra_store: sqlite:////var/lib/tcra/store.db\n"}
    assert load(_inventory(tmp_path, hosts, files)).store == "sqlite:////var/lib/tcra/store.db"
    files["group_vars/all.yml"] = "tcra_store: {url: x}\n"
    with pytest.raises(InvalidInputError, match=r"all: tcra_store: expected a database URL"):
        load(_inventory(tmp_path, hosts, files))

"""The tcra command as a user runs it: a real process, its exit code and its output."""

import json
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

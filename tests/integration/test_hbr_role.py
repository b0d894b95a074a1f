"""The tcra.telco.hbr role through its Molecule scenario: two SRv6 routers and a host in
network namespaces, converged twice (idempotence), then a ping across End.X and End.DX6."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the scenario creates network namespaces: needs root"
    ),
]

COLLECTION = Path(__file__).resolve().parents[2] / "collections/ansible_collections/tcra/telco"
MOLECULE = str(Path(sys.executable).parent / "molecule")
PREFIX = "tcramol-"


def scenario_namespaces() -> list[str]:
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)]


def molecule(action: str, timeout: int) -> subprocess.CompletedProcess[str]:
    # molecule calls ansible-playbook by name: the venv's bin must come first on PATH
    path = f"{Path(MOLECULE).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [MOLECULE, action, "-s", "hbr"],
        cwd=COLLECTION,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_molecule_scenario_passes_and_leaves_no_namespace():
    assert not scenario_namespaces(), "namespaces of an earlier run are still there"
    try:
        result = molecule("test", timeout=900)
    except subprocess.TimeoutExpired:
        molecule("destroy", timeout=120)
        raise
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for action in ("check", "converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output
    assert scenario_namespaces() == []

"""`tcra lab down` of a lab with Kubernetes, in a module of its own: the other module's lab
must be down first (CAPD's in-memory backend has fixed ports, one such lab per machine)."""

import pytest

from tcra import lab
from tcra.lab.processes import alive
from tcra.lab.spec import LabSpec, load_state
from tests.integration.conftest import needs_lab

pytestmark = [pytest.mark.lab, needs_lab]


def test_down_stops_every_component_and_removes_its_files(tmp_path):
    spec = LabSpec(name="citkdown", nodes=1, state_root=tmp_path / "state",
                   inventory=tmp_path / "inventory", kubernetes=True)
    try:
        lab.up(spec)
    except BaseException:
        lab.down(spec)
        raise
    state = load_state(spec).kubernetes
    lab.down(spec)
    assert not any(alive(c.process) for c in state.components)
    assert not state.folder.exists()
    assert not (tmp_path / "inventory").exists()
    assert not state.kubeconfig.exists()

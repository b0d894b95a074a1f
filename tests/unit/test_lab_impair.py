"""tcra.lab.impair without a lab: bad input refused before anything is touched, and a repair
after the fabric is gone still ends the background flow and forgets the fault. (On a lab:
tests/integration/test_lab.py.)"""

import subprocess

import pytest

from tcra.errors import InvalidInputError
from tcra.lab import fabric, impair
from tcra.lab.spec import LabSpec


@pytest.fixture
def spec(tmp_path):
    made = LabSpec(name="citimpair", state_root=tmp_path / "state")
    made.state_dir.mkdir(parents=True)
    return made


@pytest.mark.parametrize(("link", "rate", "field", "expected"), [
    ("backbone", 1000, "link", "expected one of underlay, users"),
    ("underlay", 4, "rate", "expected at least 8 kbit/s")])
def test_bad_input_is_refused_naming_the_field(spec, link, rate, field, expected):
    with pytest.raises(InvalidInputError) as refused:
        impair.impair(spec, fabric.plan(spec), link, "congest", rate)
    (problem,) = refused.value.problems
    assert (problem.field, problem.value) == (field, link if field == "link" else rate)
    assert expected in problem.message
    assert impair.impairments(spec) == []


def test_a_fault_on_a_fabric_gone_is_forgotten_and_its_flow_ended(spec):
    flow = subprocess.Popen(["sleep", "600"], start_new_session=True)
    impair._save(spec, [impair.Impairment(link="underlay", kind="congest",
                                          namespace="tcra-citimpair-gone", dev="up0",
                                          rate_kbit=100, flow_pid=flow.pid)])
    with pytest.raises(InvalidInputError, match="not impaired already"):
        impair.impair(spec, fabric.plan(spec), "underlay", "down")
    assert [i.link for i in impair.repair(spec)] == ["underlay"]
    assert flow.wait(timeout=10) != 0  # ended by the repair
    assert impair.impairments(spec) == []
    assert not (spec.state_dir / impair.STATE_FILE).exists()
    assert impair.repair(spec) == []

"""Stack programs run under Pulumi's mock runtime: their wiring, without an engine."""

import runpy

import pulumi

from tests.conftest import EXAMPLE, ROOT
from tests.unit.test_physical_pool import Mocks


def test_pim_lab_program_claims_the_configured_hosts(bmc_password):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="tcra-pim-lab", stack="lab", preview=False)
    pulumi.runtime.set_all_config({
        "tcra-pim-lab:inventory": str(EXAMPLE), "tcra-pim-lab:site": "regional_frankfurt",
        "tcra-pim-lab:count": "2"})

    @pulumi.runtime.test
    def run():
        program = runpy.run_path(str(ROOT / "stacks" / "pim-lab" / "__main__.py"))
        pool = program["pool"]

        def verify(args):
            hosts, systems = args
            assert hosts == ["frankfurt-reg-01", "frankfurt-reg-02"]
            assert systems == ["1", "1"]
            child = mocks.created["edge-frankfurt-reg-01"]
            assert (child["boot"]["target"], child["boot"]["mode"]) == ("pxe", "once")
            assert child["address"] == "https://198.51.100.11"

        return pulumi.Output.all(pool.hosts, pool.system_ids).apply(verify)

    run()

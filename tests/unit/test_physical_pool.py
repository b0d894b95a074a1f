"""PhysicalPool's selection, and its wiring into PhysicalHost children under Pulumi's mocks."""

import pulumi
import pytest
from tcra.components.physical_pool import select_hosts

from tcra.errors import InvalidInputError
from tcra.inventory import load
from tcra.model import Quantity
from tcra.model.host_filter import HostFilter
from tests.conftest import EXAMPLE


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: dict[str, dict] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.created[args.name] = args.inputs
        outputs = dict(args.inputs)
        if "system_id" in outputs:  # what the provider would read from the BMC
            outputs.update(power_state="On", redfish_id=outputs["system_id"])
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def test_selection_is_by_capability_and_deterministic():
    inventory = load(EXAMPLE)
    gpu = HostFilter(min_gpus=1, ptp=True)
    chosen = select_hosts(inventory, "factory_munich", 1, gpu)
    assert [h.name for h in chosen] == ["munich-edge-02"]
    big = HostFilter(min_cores=64, min_memory=Quantity("512Gi"), min_sriov_vfs=64)
    first = [h.name for h in select_hosts(inventory, "regional_frankfurt", 2, big)]
    again = [h.name for h in select_hosts(inventory, "regional_frankfurt", 2, big)]
    assert first == again == ["frankfurt-reg-01", "frankfurt-reg-02"]


def test_not_enough_hosts_is_a_clear_error():
    inventory = load(EXAMPLE)
    with pytest.raises(InvalidInputError) as caught:
        select_hosts(inventory, "factory_lyon", 3, HostFilter(ptp=True))
    assert str(caught.value) == ("PhysicalPool: count: site factory_lyon has 2 of 2 host(s)"
                                 " matching {'ptp': True}, 3 wanted (got 3)")
    with pytest.raises(InvalidInputError, match="site: expected a site of the inventory"):
        select_hosts(inventory, "atlantis", 1, HostFilter())


def test_pool_declares_one_physical_host_per_selected_host(bmc_password):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    from tcra import PhysicalPool, PhysicalPoolArgs

    inventory = load(EXAMPLE)

    @pulumi.runtime.test
    def check():
        pool = PhysicalPool("inference", PhysicalPoolArgs(
            inventory=inventory, site="regional_frankfurt", count=2,
            filter=HostFilter(min_gpus=4)))

        def verify(args):
            hosts, system_ids = args
            assert hosts == ["frankfurt-reg-01", "frankfurt-reg-02"]
            assert system_ids == ["1", "1"]
            assert sorted(n for n in mocks.created if n != "inference") == [
                "inference-frankfurt-reg-01", "inference-frankfurt-reg-02", "tcra-stack-owner"]
            child = mocks.created["inference-frankfurt-reg-01"]
            # the stack's identity is made by the engine; under mocks only the name part shows
            assert child["owner"].startswith("project/stack/inference-frankfurt-reg-01@")
            assert child["address"] == "https://198.51.100.11"
            assert child["system_id"] == "1"
            assert child["power"] == "on"

        return pulumi.Output.all(pool.hosts, pool.system_ids).apply(verify)

    check()


def test_physical_host_password_is_a_secret_output():
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    from tcra import PhysicalHost, PhysicalHostArgs

    @pulumi.runtime.test
    def check():
        host = PhysicalHost("h", PhysicalHostArgs(
            host="h", address="https://192.0.2.1", system_id="1", username="u",
            password="plain-text-given"))

        async def secrecy(_):
            return await host.password.is_secret(), await host.power_state.is_secret()

        def verify(flags):
            assert flags == (True, False)

        return host.power_state.apply(secrecy).apply(verify)

    check()


def test_a_pool_of_named_hosts_takes_exactly_those_and_refuses_strangers():
    from tcra.components.physical_pool import PhysicalPoolArgs, named_hosts

    inventory = load(EXAMPLE)
    chosen = named_hosts(inventory, "factory_munich", ("munich-edge-02",))
    assert [h.name for h in chosen] == ["munich-edge-02"]
    with pytest.raises(InvalidInputError) as caught:
        named_hosts(inventory, "factory_munich", ("munich-edge-01", "lyon-edge-01"))
    assert str(caught.value) == ("PhysicalPool: hosts.1: expected a host of site factory_munich"
                                 " (munich-edge-01, munich-edge-02) (got 'lyon-edge-01')")
    with pytest.raises(ValueError, match="give either hosts"):
        PhysicalPoolArgs(inventory=inventory, site="factory_munich", hosts=("munich-edge-01",),
                         count=1)

"""MultiCloudOrchestrator under Pulumi's mocks: the plan becomes outputs; infeasible fails."""

import pulumi
import pytest
import yaml

from tcra.inventory import load
from tcra.mco.model import HostRole, PlacementInput
from tests.conftest import EXAMPLE, ROOT
from tests.unit.test_physical_pool import Mocks

REQUEST = ROOT / "examples" / "manufacturing-request.yaml"


def given():
    return PlacementInput.model_validate(yaml.safe_load(REQUEST.read_text()))


def test_the_plan_becomes_outputs_and_only_a_resource_records_it(bmc_password, tmp_path):
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    from tcra import MultiCloudOrchestrator, MultiCloudOrchestratorArgs
    from tcra.mco.store import Store

    url = f"sqlite:///{tmp_path / 'mco.db'}"
    placement = given()

    @pulumi.runtime.test
    def check():
        mco = MultiCloudOrchestrator("mco", MultiCloudOrchestratorArgs(
            inventory=load(EXAMPLE), request=placement.request, policy=placement.policy,
            store_url=url, live=False))  # mocks: no peers to read
        declared = mco.record()

        def verify(args):
            sites, unplaced, plan, _ = args
            assert sites["opcua-gateway-munich"] == sites["mqtt-munich"] == "factory_munich"
            assert unplaced == []
            assert plan["service"] == "plant-ot"
            assert Store(url).placements() == ()  # the program wrote nothing
            record = mocks.created["mco-inventory"]
            assert {p["workload"]: p["site"] for p in record["placements"]} == sites
            assert (record["service"], record["tenant"], record["deployed"]) == (
                "plant-ot", placement.request.tenant, [])
            assert tuple(HostRole.model_validate(h) for h in record["hosts"]) == mco.result.hosts

        return pulumi.Output.all(mco.sites, mco.unplaced, mco.plan, declared.id).apply(verify)

    check()


def test_without_a_store_there_is_nothing_to_record(bmc_password):
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    from tcra import MultiCloudOrchestrator, MultiCloudOrchestratorArgs

    placement = given()
    mco = MultiCloudOrchestrator("mco", MultiCloudOrchestratorArgs(
        inventory=load(EXAMPLE), request=placement.request, policy=placement.policy))
    assert mco.record() is None


def test_infeasible_request_fails_the_program_with_reasons(bmc_password):
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    from tcra.components.orchestrator import InfeasibleRequestError

    from tcra import MultiCloudOrchestrator, MultiCloudOrchestratorArgs

    placement = given()
    impossible = placement.request.model_copy(update={"affinity": (), "workloads": (
        placement.request.workloads[0].model_copy(update={"jurisdictions": ("IT",)}),)})
    with pytest.raises(InfeasibleRequestError, match="cannot place mqtt-munich: needs"):
        MultiCloudOrchestrator("mco", MultiCloudOrchestratorArgs(
            inventory=load(EXAMPLE), request=impossible))


def test_with_a_store_the_peers_are_read_and_one_that_does_not_answer_fails_by_name(
        tmp_path, monkeypatch):
    pulumi.runtime.set_mocks(Mocks(), preview=False)
    from tcra import MultiCloudOrchestrator, MultiCloudOrchestratorArgs
    from tcra.mco.live import LiveReadError
    from tests.unit.test_mco_hosts import plant, service

    monkeypatch.setenv("BMC", "not-a-real-password")
    inventory = plant()
    unreachable = tuple(h.model_copy(update={"bmc": h.bmc.model_copy(update={
        "address": "https://127.0.0.1:9"})}) for h in inventory.hosts)
    inventory = inventory.model_copy(update={"hosts": unreachable})
    request = service("app", ("web", "caf", 1, "1Gi", {}))
    store = f"sqlite:///{tmp_path / 'mco.db'}"
    with pytest.raises(LiveReadError, match=r"host gpu-01: BMC https://127.0.0.1:9: "):
        MultiCloudOrchestrator("mco", MultiCloudOrchestratorArgs(
            inventory=inventory, request=request, store_url=store))
    for name, args in (("off", {"store_url": store, "live": False}),
                       ("no-store", {})):  # without records nothing tells its own use apart
        mco = MultiCloudOrchestrator(name, MultiCloudOrchestratorArgs(
            inventory=inventory, request=request, **args))
        assert [a.site for a in mco.result.assignments] == ["plant"]

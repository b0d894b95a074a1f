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


def test_example_stack_declares_clusters_releases_vms_and_hosts(bmc_password, tmp_path,
                                                                   monkeypatch):
    """stacks/example as shipped (Pulumi.example.yaml) but for Munich alone (Lyon's BMC
    passwords are files on the operator's machine), its kubeconfig a secret. Each host has
    one owner: claimed as bare metal, a Metal3 BareMetalHost of the new cluster, or a
    hypervisor of the VMs, never two of them."""
    import json

    import yaml

    from tests.unit.test_k8s_cluster import Mocks as ClusterMocks  # answers kubeconfig reads

    declared: list[tuple[str, dict]] = []

    class Recording(ClusterMocks):
        def new_resource(self, args):
            declared.append((args.typ, args.inputs))
            return super().new_resource(args)

    pulumi.runtime.set_mocks(Recording(), project="tcra-example", stack="example",
                             preview=False)
    shipped = yaml.safe_load((ROOT / "stacks/example/Pulumi.example.yaml").read_text())["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in shipped.items()}
    config |= {"tcra-example:inventory": str(EXAMPLE),
               "tcra-example:store_url": f"sqlite:///{tmp_path / 'mco.db'}",
               "tcra-example:live": "false",  # mocks: no peers to read
               "tcra-example:factory_sites": '["factory_munich"]',
               "tcra-example:management_kubeconfig": "apiVersion: v1\nkind: Config\n"}
    pulumi.runtime.set_all_config(config)
    monkeypatch.chdir(ROOT / "stacks" / "example")

    @pulumi.runtime.test
    def run():
        program = runpy.run_path(str(ROOT / "stacks" / "example" / "__main__.py"))
        factory = program["factory"]

        def verify(args, plan):
            endpoints, not_deployed = args
            forms = {w: e["form"] for w, e in endpoints.items()}
            assert forms["historian-db"] == "vm"
            assert forms["mqtt-broker-factory_munich"] == "kubernetes"
            assert endpoints["mqtt-broker-factory_munich"]["cluster"].startswith("plant-")
            assert forms["visual-inspection-factory_munich"] == "bare metal"
            assert not_deployed == {}
            assert endpoints["opcua-gateway-factory_munich"]["url"].startswith("http")
            roles = {h["host"]: h["role"] for h in plan["hosts"]}
            assert len(roles) == len(plan["hosts"])  # one role per host
            metal = {i["host"] for t, i in declared if t.endswith("tcra:PhysicalHost")}
            nodes = {i["metadata"]["name"] for t, i in declared
                     if t.endswith(":BareMetalHost")}
            vms = {i["uri"].split("@")[1].split(".")[0] for t, i in declared
                   if t.endswith("tcra:VirtualMachine")}
            assert metal == {h for h, r in roles.items() if r == "bare-metal"}
            assert nodes == {h for h, r in roles.items() if r == "kubernetes-node"}
            assert vms == {h for h, r in roles.items() if r == "hypervisor"}
            assert not (metal & nodes or metal & vms or nodes & vms)
            # the GPU host of Frankfurt for the inference, and a plant host that is a
            # Kubernetes node only (the issue: it was bare metal and a node at once)
            assert endpoints["visual-inspection-factory_munich"]["host"] == "frankfurt-reg-01"
            assert roles == {"frankfurt-reg-01": "bare-metal", "frankfurt-reg-02": "hypervisor",
                             "munich-edge-02": "kubernetes-node"}
            # the gateway asks PTP: its cluster gets the daemon after the CNI, no Multus
            addons = [i["name"] for t, i in declared if t == "kubernetes:helm.sh/v3:Release"
                      and i["name"] in ("tigera-operator", "linuxptp-daemon", "multus-cni-chart")]
            assert addons == ["tigera-operator", "linuxptp-daemon"]

        return pulumi.Output.all(factory.endpoints, factory.not_deployed,
                                 factory.plan).apply(lambda args: verify(args[:2], args[2]))

    run()


def test_a_bad_chain_destination_names_its_config_key_and_ends_cleanly():
    """Pulumi prints a RunError as its message alone: no traceback around the lines."""
    import json

    import pytest
    from tcra.blueprints import stack_config
    from tcra.blueprints.manufacturing import ManufacturingStack

    pulumi.runtime.set_mocks(Mocks(), project="tcra-lab", stack="lab", preview=False)
    pulumi.runtime.set_all_config({
        "tcra-lab:inventory": str(EXAMPLE), "tcra-lab:factory_sites": '["factory_munich"]',
        "tcra-lab:chain": json.dumps({"destination": "fd00::zz/64", "egress": "app"})})
    with pytest.raises(pulumi.RunError) as caught:
        stack_config.read(ManufacturingStack)
    assert str(caught.value).startswith("stack lab config: tcra-lab:chain.destination: expected"
                                        " an IPv6 prefix")

    pulumi.runtime.set_mocks(Mocks(), project="tcra-chain-lab", stack="lab", preview=False)
    pulumi.runtime.set_all_config({"tcra-chain-lab:inventory": str(EXAMPLE),
                                   "tcra-chain-lab:service": "10.0.0.0/8"})
    with pytest.raises(pulumi.RunError, match="stack lab config: tcra-chain-lab:service:"
                       " expected an IPv6 prefix"):
        runpy.run_path(str(ROOT / "stacks" / "chain-lab" / "__main__.py"))


def test_secret_config_stays_a_secret_and_out_of_errors():
    import pytest
    from tcra.blueprints import stack_config
    from tcra.blueprints.manufacturing import ManufacturingStack

    from tcra.errors import InvalidInputError

    pulumi.runtime.set_mocks(Mocks(), project="tcra-lab", stack="lab", preview=False)
    pulumi.runtime.set_all_config(
        {"tcra-lab:inventory": str(EXAMPLE), "tcra-lab:factory_sites": '["factory_munich"]',
         "tcra-lab:management_kubeconfig": "apiVersion: v1\nkind: Config\n",
         "tcra-lab:store_url": '{"user": "u", "password": "hunter2"}'},
        secret_keys=["tcra-lab:management_kubeconfig", "tcra-lab:store_url"])
    with pytest.raises(InvalidInputError) as caught:
        stack_config.read(ManufacturingStack)
    assert str(caught.value) == ("stack lab config: tcra-lab:store_url: Input should be a valid"
                                 " string (value hidden: a secret)")

    pulumi.runtime.set_all_config(
        {"tcra-lab:inventory": str(EXAMPLE), "tcra-lab:factory_sites": '["factory_munich"]',
         "tcra-lab:management_kubeconfig": "apiVersion: v1\nkind: Config\n"},
        secret_keys=["tcra-lab:management_kubeconfig"])
    kubeconfig = stack_config.read(ManufacturingStack).management_kubeconfig

    @pulumi.runtime.test
    def check():
        assert isinstance(kubeconfig, pulumi.Output)
        return pulumi.Output.all(kubeconfig.is_secret(), kubeconfig).apply(
            lambda args: assert_secret(*args))

    def assert_secret(is_secret, value):
        assert is_secret and value == "apiVersion: v1\nkind: Config\n"

    check()

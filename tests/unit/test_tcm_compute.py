"""The route computation: exact routes per HBR, stable SIDs, and bad input refused early."""

import pytest
from pydantic import ValidationError

from tcra.errors import InvalidInputError
from tcra.model.fabric import Chain, Fabric
from tcra.tcm.compute import compute, steer
from tcra.tcm.route import Behaviour

HBRS = [
    {"name": "edge", "locator": "fd00:1::/48", "uplink": "up0", "interfaces": ["up0", "upf0"]},
    {"name": "core", "locator": "fd00:2::/48", "uplink": "up0",
     "interfaces": ["up0", "fw0", "app0", "ids0"]},
]
ENDPOINTS = [
    {"workload": "fw", "hbr": "core", "address": "fd00:f0::2", "dev": "fw0"},
    {"workload": "ids", "hbr": "core", "address": "fd00:f3::2", "dev": "ids0"},
    {"workload": "upf", "hbr": "edge", "address": "fd00:f1::2", "dev": "upf0"},
    {"workload": "app", "hbr": "core", "address": "fd00:f2::2", "dev": "app0"},
]


def fabric(**extra):
    return Fabric.model_validate({"hbrs": HBRS, "endpoints": ENDPOINTS, **extra})


def chain(*functions, **extra):
    return Chain.model_validate({"name": "web", "ingress": "edge",
                                 "destination": "fd00:40::/64", "functions": functions,
                                 "egress": "app", **extra})


def test_routes_per_hbr():
    plan = compute(fabric(), chain("fw", "upf"))
    by_hbr = {h.hbr: h.routes for h in plan.hbrs}
    (encap, upf_sid) = sorted(by_hbr["edge"], key=lambda r: r.segments == ())
    assert encap.dst.compressed == "fd00:40::/64" and encap.dev == "up0"
    assert list(encap.segments) == [plan.sids["fw"], plan.sids["upf"], plan.sids["app"]]
    assert upf_sid.behaviour is Behaviour.END_X and str(upf_sid.nh6) == "fd00:f1::2"
    core = {r.behaviour: r for r in by_hbr["core"]}
    assert core[Behaviour.END_DX6].dev == "app0"
    assert plan.sids["fw"] in fabric().hbr("core").locator
    assert plan.sids["upf"] in fabric().hbr("edge").locator


def test_sids_are_stable_when_a_function_is_inserted():
    before = compute(fabric(), chain("fw", "upf")).sids
    after = compute(fabric(), chain("fw", "ids", "upf")).sids
    assert {w: after[w] for w in before} == before
    assert len(set(after.values())) == len(after)


def test_pinned_sid_outside_its_locator_is_refused():
    with pytest.raises(InvalidInputError, match=r"sids\.fw: expected a SID inside core.s locator"):
        compute(fabric(), chain("fw", sids={"fw": "fd00:1::99"}))


def test_unknown_hbr_and_workload_and_too_many_segments():
    with pytest.raises(InvalidInputError) as caught:
        compute(fabric(max_segments=2),
                chain("fw", "ghost", "upf", ingress="nowhere"))
    lines = str(caught.value).splitlines()
    assert "chain web: ingress: expected one of the HBRs (edge, core) (got 'nowhere')" in lines
    assert any(line.startswith("chain web: functions: expected a workload with an endpoint")
               and "(got 'ghost')" in line for line in lines)
    assert "chain web: functions: expected at most 2 segments (functions plus egress) (got 4)" \
        in lines


def test_a_first_hop_on_the_ingress_gets_its_sid_there_beside_the_encapsulation():
    """Users' packets are forwarded: the kernel routes what it encapsulated again as input,
    where the ingress's own SID applies (the lab's chain proves it once its workloads moved
    to the users' site)."""
    plan = compute(fabric(), chain("upf", "fw"))
    edge = {r.behaviour: r for r in next(h for h in plan.hbrs if h.hbr == "edge").routes}
    assert edge[None].segments[0] == plan.sids["upf"]
    assert edge[Behaviour.END_X].dst.network_address == plan.sids["upf"]


def test_overlapping_locators_and_ipv4_are_refused_by_the_model():
    overlapping = [HBRS[0], {**HBRS[1], "locator": "fd00:1:0:8000::/64"}]
    with pytest.raises(ValidationError, match=r"locators of edge .* and core .* overlap"):
        Fabric.model_validate({"hbrs": overlapping})
    with pytest.raises(ValidationError, match="expected an IPv6 prefix"):
        chain("fw", destination="10.0.0.0/24")
    with pytest.raises(ValidationError, match="expected an IPv6 address"):
        Fabric.model_validate({"hbrs": HBRS, "endpoints": [{**ENDPOINTS[0],
                                                              "address": "10.0.0.2"}]})


def two_sites():
    """fw may run at either site: the fabric has an endpoint for it behind each HBR."""
    return fabric(endpoints=[*ENDPOINTS, {"workload": "fw", "hbr": "edge",
                                          "address": "fd00:f4::2", "dev": "fw0"}])


def test_the_chain_s_placement_picks_the_endpoint_of_a_workload_behind_several_hbrs():
    two = two_sites()
    at_core = compute(two, chain("upf", "fw", ingress="core", placement={"fw": "core"}))
    at_edge = compute(two, chain("upf", "fw", ingress="core", placement={"fw": "edge"}))
    assert at_core.sids["fw"] in two.hbr("core").locator
    assert at_edge.sids["fw"] in two.hbr("edge").locator
    assert (at_core.placement["fw"], at_edge.placement["fw"]) == ("core", "edge")
    (end_x,) = [r for h in at_edge.hbrs if h.hbr == "edge" for r in h.routes
                if r.dst.network_address == at_edge.sids["fw"]]
    assert (str(end_x.nh6), end_x.dev) == ("fd00:f4::2", "fw0")


def test_a_workload_behind_several_hbrs_needs_its_placement():
    with pytest.raises(InvalidInputError) as caught:
        compute(two_sites(), chain("fw", "upf", ingress="core"))
    assert str(caught.value) == ("chain web: functions: the fabric has it behind several HBRs"
                                 " (core, edge); expected its placement (got 'fw')")
    with pytest.raises(InvalidInputError) as caught:
        compute(fabric(), chain("fw", placement={"fw": "edge", "ids": "core"}))
    assert str(caught.value).splitlines() == [
        "chain web: placement.fw: expected an HBR the fabric has fw behind (core) (got 'edge')",
        "chain web: placement.ids: expected a workload of the chain (got 'core')"]


def test_one_hbr_per_site_and_one_endpoint_per_workload_and_hbr():
    with pytest.raises(ValidationError, match="HBRs edge and core both serve site muc"):
        Fabric.model_validate({"hbrs": [{**h, "site": "muc"} for h in HBRS]})
    with pytest.raises(ValidationError, match="endpoint fw: given twice behind HBR core"):
        fabric(endpoints=[*ENDPOINTS, ENDPOINTS[0]])
    served = Fabric.model_validate({"hbrs": [{**HBRS[0], "site": "muc"}, HBRS[1]]})
    assert served.serving("muc").name == "edge" and served.serving("lyon") is None


def with_pods():
    """core also sits on its cluster's pod network."""
    pods = {"dev": "pods0", "prefix": "fd00:99::/64", "gateway": "fd00:99::1"}
    return Fabric.model_validate({"hbrs": [HBRS[0], {**HBRS[1], "pods": pods}],
                                  "endpoints": ENDPOINTS})


def test_a_pod_is_reached_at_its_own_address_once_known_and_its_sid_is_known_before():
    pods = with_pods()
    pending = chain("fw", "upf", placement={"app": "core"}, addresses={"app": None})
    steered = steer(pods, pending)  # what a preview knows: SIDs and HBRs, not the pod
    assert steered.placement["app"] == "core" and steered.sids["app"] in pods.hbr("core").locator
    with pytest.raises(InvalidInputError, match=r"addresses\.app: expected the address of its pod"):
        compute(pods, pending)
    running = pending.model_copy(update={"addresses": {"app": "fd00:99::105"}})
    plan = compute(pods, Chain.model_validate(running.model_dump()))
    assert plan.sids == steered.sids
    (end_dx6,) = [r for h in plan.hbrs for r in h.routes if r.behaviour is Behaviour.END_DX6]
    assert (str(end_dx6.nh6), end_dx6.dev) == ("fd00:99::105", "pods0")


def test_a_pod_outside_its_hbr_s_pod_network_is_refused_naming_it():
    with pytest.raises(InvalidInputError) as caught:
        compute(with_pods(), chain("fw", placement={"app": "core"},
                                   addresses={"app": "fd00:98::5"}))
    assert str(caught.value) == ("chain web: addresses.app: expected an address in core's pod"
                                 " network fd00:99::/64 (got 'fd00:98::5')")
    with pytest.raises(InvalidInputError) as caught:
        steer(with_pods(), chain("fw", placement={"app": "edge"}, addresses={"app": None}))
    assert str(caught.value) == ("chain web: placement.app: expected the HBR whose pod network"
                                 " its pod runs on (core) (got 'edge')")

"""Route ownership on a real kernel: each route tcra programs carries a marker naming its owner,
so a second stack of the same program (same chain, same HBR, its own backend) is refused,
naming the first one's owner, and its refresh and destroy never touch the first one's routes."""

import os
import subprocess

import pytest
from tcra.providers.srv6_routes import HbrRoutesProvider, HbrRoutesSpec

from tcra.ownership import OwnedElsewhereError, owner_text
from tcra.tcm import kernel
from tcra.tcm.owners import OWNERS_TABLE
from tcra.tcm.route import Behaviour, Route
from tests.integration.test_hbr_routes_read import hbr  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
FIRST = owner_text("chain-lab", "lab", "web-lab_factory", "a" * 32)
SECOND = owner_text("chain-lab", "lab", "web-lab_factory", "b" * 32)


def props(namespace: str, owner: str) -> dict:
    spec = HbrRoutesSpec(chain="web", hbr="lab_factory", namespace=namespace,
                         interfaces=("v0",), routes=(
                             Route(dst="fd00:1::/64", dev="v0", segments=("fc00:a::1",)),
                             Route(dst="fc00:f::1/128", dev="v0", behaviour=Behaviour.END)))
    return {**spec.model_dump(mode="json"), "owner": owner}


def test_a_second_owner_is_refused_and_never_touches_the_first_ones_routes(hbr):  # noqa: F811
    provider = HbrRoutesProvider()
    first = provider.create(props(hbr, FIRST))
    routes = kernel.read(hbr)
    assert len(routes) == 2 and len(kernel.read_markers(hbr)) == 2
    listed = subprocess.run(["ip", "-n", hbr, "-6", "route", "show", "table",
                             str(OWNERS_TABLE)], capture_output=True, text=True, check=True)
    assert listed.stdout.count("encap seg6") == 2  # the markers, in a table nothing uses

    with pytest.raises(OwnedElsewhereError, match=r"SRv6 route fd00:1::/64 at HBR namespace"
                       rf" {hbr} belongs to {FIRST}; it was left untouched"):
        provider.create(props(hbr, SECOND))
    second = {**first.outs, "owner": SECOND}
    assert provider.read(first.id, second).outs["live"] == []  # nothing of the second's
    provider.delete(first.id, second)
    assert kernel.read(hbr) == routes

    assert len(provider.read(first.id, first.outs).outs["live"]) == 2
    provider.delete(first.id, first.outs)
    assert kernel.read(hbr) == [] and kernel.read_markers(hbr) == []


def test_a_route_made_by_hand_with_tcras_protocol_is_refused(hbr):  # noqa: F811
    subprocess.run(["ip", "-n", hbr, "-6", "route", "add", "fd00:1::/64", "encap", "seg6",
                    "mode", "encap", "segs", "fc00:b::1", "dev", "v0", "proto", "199"],
                   check=True)
    with pytest.raises(OwnedElsewhereError, match=r"SRv6 route fd00:1::/64 at HBR namespace"
                       rf" {hbr} was not made by tcra"):
        HbrRoutesProvider().create(props(hbr, FIRST))
    [left] = kernel.read(hbr)
    assert [str(s) for s in left.segments] == ["fc00:b::1"]
    assert kernel.read_markers(hbr) == []

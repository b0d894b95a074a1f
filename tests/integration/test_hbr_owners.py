"""Route ownership on a real kernel: each route tcra programs carries a marker naming its owner,
so a second stack of the same program (same chain, same HBR, its own backend) is refused,
naming the first one's owner, and its refresh and destroy never touch the first one's routes.
The collection's srv6_route module writes and honours the same markers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tcra.providers.srv6_routes import HbrRoutesProvider, HbrRoutesSpec

from tcra.ownership import OwnedElsewhereError, owner_text
from tcra.tcm import kernel
from tcra.tcm.owners import OWNERS_TABLE
from tcra.tcm.route import Behaviour, Route
from tests.conftest import ROOT
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


def srv6_route(namespace: str, owner: str, state: str, cwd: Path) -> subprocess.CompletedProcess:
    """The collection's srv6_route module, as the hbr role runs it on a remote HBR."""
    spec = props(namespace, owner)
    arguments = json.dumps({"netns": namespace, "state": state, "owner": owner, "routes": [
        {k: v for k, v in r.items() if v is not None} for r in spec["routes"]]})
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
         "-m", "tcra.telco.srv6_route", "-a", arguments],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
             "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "false"})


def test_the_ansible_module_keeps_the_same_owners_as_the_provider(hbr, tmp_path):  # noqa: F811
    assert srv6_route(hbr, FIRST, "present", tmp_path).returncode == 0
    routes, markers = kernel.read(hbr), kernel.read_markers(hbr)
    assert len(routes) == len(markers) == 2

    refused = srv6_route(hbr, SECOND, "present", tmp_path)
    assert refused.returncode != 0
    assert f"belongs to {FIRST}; it was left untouched" in refused.stdout
    with pytest.raises(OwnedElsewhereError):  # the provider reads the module's markers
        HbrRoutesProvider().create(props(hbr, SECOND))
    assert srv6_route(hbr, SECOND, "absent", tmp_path).returncode == 0  # nothing of theirs
    assert (kernel.read(hbr), kernel.read_markers(hbr)) == (routes, markers)

    # the provider of the same owner takes back what the module programmed, markers and all
    HbrRoutesProvider().delete("id", props(hbr, FIRST))
    assert kernel.read(hbr) == kernel.read_markers(hbr) == []

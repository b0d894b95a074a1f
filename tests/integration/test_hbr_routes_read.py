"""HbrRoutes.read against the real kernel: routes whose HBR namespace was deleted read as gone
(an empty id, so `pulumi refresh` drops them) instead of failing the refresh."""

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tcra.providers.srv6_routes import HbrRoutesProvider, HbrRoutesSpec

from tcra.ownership import owner_text
from tcra.tcm import kernel
from tcra.tcm.route import Route

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def hbr() -> Iterator[str]:
    """A namespace with an up veth pair, standing in for an HBR; always removed."""
    name = f"tcrahbr-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", name, "link", "set", "v0", "up")
        ip("-n", name, "link", "set", "v1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True,
                       timeout=30)


def test_routes_of_a_deleted_namespace_read_as_gone(hbr):
    provider = HbrRoutesProvider()
    props = HbrRoutesSpec(chain="web", hbr="site", namespace=hbr, interfaces=("v0",), routes=(
        Route(dst="fd00:1::/64", dev="v0", segments=("fc00:a::1",)),)).model_dump(mode="json")
    props["owner"] = owner_text("tests", "hbr", "web-site", "0" * 32)
    created = provider.create(props)
    live = provider.read(created.id, created.outs)
    assert live.id == created.id and len(live.outs["live"]) == 1

    ip("netns", "del", hbr)
    assert not kernel.namespace_exists(hbr)
    gone = provider.read(created.id, created.outs)
    assert (gone.id, gone.outs) == ("", {})
    provider.delete(created.id, created.outs)  # and deleting what is gone succeeds

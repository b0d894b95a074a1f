"""PhysicalHost's provider against the lab's real Redfish emulator and libvirt domains."""

import base64
import functools
import http.server
import logging
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dill
import libvirt
import pytest
import requests
import sushy
from pulumi.dynamic.dynamic import serialize_provider
from tcra.providers._redfish import UnsupportedActionError
from tcra.providers.physical_host import PhysicalHostProvider

from tcra.bmc import BmcAccessError, BmcError, SystemNotFoundError
from tcra.inventory import load
from tcra.lab.processes import Process, free_port, start, stop
from tcra.ownership import OwnedElsewhereError, owner_text
from tcra.secrets import resolve
from tests.integration.conftest import needs_lab, running_lab

pytestmark = [pytest.mark.lab, needs_lab]
PASSWORD_MARK = "do-not-leak"
OWNER = owner_text("tests", "pim", "host", "0" * 32)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("pim"), "citestpim", nodes=4) as spec:
        yield load(spec.inventory).hosts


def props(host, **overrides):
    base = {"host": host.name, "address": host.bmc.address, "system_id": host.bmc.system_id,
            "username": host.bmc.credentials.username,
            "password": resolve(host.bmc.credentials.password), "auth": host.bmc.auth,
            "ca_bundle": str(host.bmc.ca_bundle),  # the lab's CA: its BMC serves HTTPS
            "power": "on", "boot": {"target": "pxe", "mode": "once"}, "timeout": 5,
            "power_timeout": 30, "shutdown_timeout": 1, "owner": OWNER}
    return {**base, **overrides}


@contextmanager
def domain(name: str) -> Iterator[libvirt.virDomain]:
    conn = libvirt.open("qemu:///system")
    try:
        yield conn.lookupByName(name)
    finally:
        conn.close()


def found_in_domain(name: str, path: str, attribute: str) -> list[str]:
    """Attribute values of the live domain XML's elements at `path`."""
    with domain(name) as dom:
        tree = ET.fromstring(dom.XMLDesc())
    return [element.get(attribute) for element in tree.findall(path)]


@pytest.fixture(scope="module")
def image_url(tmp_path_factory):
    """An installer image served on loopback, as a provisioning server would."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "installer.iso").write_bytes(b"\0" * 65536)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/installer.iso"
    server.shutdown()
    server.server_close()


def test_claim_update_release_lifecycle(hosts, image_url):
    host = hosts[0]
    provider = PhysicalHostProvider()
    wanted = props(host)
    assert provider.check({}, wanted).failures == []

    created = provider.create(wanted)
    outs = created.outs
    assert outs["power_state"] == "On"
    assert outs["cpu_count"] == 1
    assert [nic["mac"] for nic in outs["nics"]] == found_in_domain(
        host.name, "./devices/interface/mac", "address")
    assert outs["bmc_url"] == host.bmc.address
    assert created.id.endswith(f"/redfish/v1/Systems/{host.bmc.system_id}")
    with domain(host.name) as dom:
        assert dom.isActive()

    read = provider.read(created.id, outs)
    assert read.id == created.id
    assert read.outs["power_state"] == "On"

    off = {**wanted, "power": "off"}
    diff = provider.diff(created.id, outs, off)
    assert diff.changes and diff.replaces == []
    outs = provider.update(created.id, outs, off).outs
    assert outs["power_state"] == "Off"
    with domain(host.name) as dom:
        assert not dom.isActive()

    from_cd = {**wanted, "boot": {"target": "cd", "mode": "once", "image": image_url}}
    diff = provider.diff(created.id, outs, from_cd)
    assert diff.changes and diff.replaces == []
    outs = provider.update(created.id, outs, from_cd).outs
    assert outs["media_image"] == image_url
    assert outs["power_state"] == "On"
    assert len(found_in_domain(host.name, "./devices/disk[@device='cdrom']/source", "file")) == 1

    provider.delete(created.id, outs)
    after = provider.read(created.id, outs).outs
    assert after["power_state"] == "Off"
    assert after["media_image"] is None
    with domain(host.name) as dom:  # released, not destroyed: the server is still there
        assert not dom.isActive()
    provider.delete(created.id, outs)  # already off: not an error


def test_refresh_shows_drift_and_up_restores_it(hosts):
    host = hosts[1]
    provider = PhysicalHostProvider()
    wanted = props(host, boot=None, auth="auto")  # tries a session, falls back to basic
    created = provider.create(wanted)
    try:
        root = sushy.Sushy(f"{host.bmc.address}/redfish/v1", username="tcra",
                           password=wanted["password"], verify=str(host.bmc.ca_bundle))
        root.get_system(f"/redfish/v1/Systems/{host.bmc.system_id}").reset_system(
            sushy.ResetType.FORCE_OFF)  # by hand, behind the provider's back
        refreshed = provider.read(created.id, created.outs)
        assert refreshed.outs["power_state"] == "Off"
        diff = provider.diff(created.id, refreshed.outs, wanted)
        assert diff.changes and diff.replaces == []
        restored = provider.update(created.id, refreshed.outs, wanted).outs
        assert restored["power_state"] == "On"
        assert provider.diff(created.id, restored, wanted).changes is False
    finally:
        provider.delete(created.id, created.outs)


def test_another_system_means_replacement(hosts):
    provider = PhysicalHostProvider()
    olds = props(hosts[0])
    diff = provider.diff("id", olds, props(hosts[0], system_id=hosts[1].bmc.system_id))
    assert diff.replaces == ["system_id"]
    assert diff.delete_before_replace


def test_check_rejects_bad_input_naming_the_field():
    provider = PhysicalHostProvider()
    good = {"host": "h", "address": "https://192.0.2.1", "system_id": "1", "username": "u",
            "password": "p", "owner": OWNER}
    cases = {
        "boot": {**good, "boot": {"target": "cd"}},
        "address": {**good, "address": "ftp://192.0.2.1"},
        "timeout": {**good, "timeout": -1},
        "power": {**good, "power": "maybe"},
        "inputs": {**good, "serial": "ABC123"},
    }
    for field, news in cases.items():
        failures = provider.check({}, news).failures
        assert [f.property for f in failures] == [field], (field, failures)
        assert failures[0].reason


def test_wrong_password_fails_at_once_and_never_shows_the_secret(hosts, caplog):
    caplog.set_level(logging.DEBUG)
    wanted = props(hosts[2], password=PASSWORD_MARK)
    started = time.monotonic()
    with pytest.raises(BmcAccessError) as caught:
        PhysicalHostProvider().create(wanted)
    assert time.monotonic() - started < 10  # no retries with backoff on 401
    message = str(caught.value)
    assert message.startswith(f"host {hosts[2].name}: BMC {hosts[2].bmc.address}: access denied")
    assert PASSWORD_MARK not in message
    assert PASSWORD_MARK not in caplog.text
    assert PASSWORD_MARK not in repr(caught.value.__context__)


def test_bmc_with_closed_port_fails_within_the_timeout(hosts):
    wanted = props(hosts[0], address=f"http://127.0.0.1:{free_port()}", timeout=1)
    started = time.monotonic()
    with pytest.raises(BmcError, match="no usable answer after 3 attempts"):
        PhysicalHostProvider().create(wanted)
    assert time.monotonic() - started < 30


def test_bmc_that_never_answers_times_out(hosts):
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        wanted = props(hosts[0], address=f"http://127.0.0.1:{silent.getsockname()[1]}",
                       timeout=1)
        started = time.monotonic()
        with pytest.raises(BmcError, match="no usable answer after 3 attempts"):
            PhysicalHostProvider().create(wanted)
        assert time.monotonic() - started < 30


class FlakyProxy(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` requests, then forwards to the real BMC, verifying
    its HTTPS with the lab's CA (`ca_bundle`)."""

    upstream = ""
    ca_bundle = ""
    failures = 0
    served_503 = 0

    def _handle(self) -> None:
        cls = type(self)
        if cls.served_503 < cls.failures:
            cls.served_503 += 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        reply = requests.request(self.command, cls.upstream + self.path,
                                 data=self.rfile.read(length) if length else None,
                                 headers={k: v for k, v in self.headers.items()
                                          if k.lower() != "host"},
                                 verify=cls.ca_bundle, timeout=10)
        self.send_response(reply.status_code)
        for key, value in reply.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                   "content-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.content)))
        self.end_headers()
        self.wfile.write(reply.content)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle

    def log_message(self, *_args: object) -> None:
        pass


def test_bmc_answering_503_twice_then_200_succeeds_by_retry(hosts):
    handler = type("Flaky", (FlakyProxy,), {"upstream": hosts[3].bmc.address, "failures": 2,
                                            "ca_bundle": str(hosts[3].bmc.ca_bundle)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wanted = props(hosts[3], address=f"http://127.0.0.1:{server.server_address[1]}")
        observed = PhysicalHostProvider().read("id", wanted)
        assert observed.outs["power_state"] in ("On", "Off")
        assert handler.served_503 == 2
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_system_is_named_and_reads_as_gone(hosts):
    wanted = props(hosts[0], system_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(SystemNotFoundError, match=f"host {hosts[0].name}: BMC "):
        PhysicalHostProvider().create(wanted)
    assert PhysicalHostProvider().read("id", wanted).id == ""


def test_boot_target_the_bmc_does_not_offer_is_refused(hosts):
    wanted = props(hosts[0], boot={"target": "uefi_http", "image": "http://127.0.0.1:1/x.efi"})
    with pytest.raises(UnsupportedActionError, match="boot target uefi_http is not offered"):
        PhysicalHostProvider().create(wanted)


def test_bmc_without_virtual_media_is_refused(hosts, tmp_path, image_url):
    config = tmp_path / "minimum.conf"
    config.write_text("SUSHY_EMULATOR_LIBVIRT_URI = 'qemu:///system'\n"
                      f"SUSHY_EMULATOR_ALLOWED_INSTANCES = [{hosts[0].bmc.system_id!r}]\n"
                      "SUSHY_EMULATOR_FEATURE_SET = 'minimum'\n")
    port = free_port()
    emulator: Process = start([sys.executable, "-m", "tcra.lab.emulator", "--config", str(config),
                               "-i", "127.0.0.1", "-p", str(port)], tmp_path / "emulator.log",
                              program="tcra.lab.emulator")
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{url}/redfish/v1", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        wanted = props(hosts[0], address=url,
                       boot={"target": "cd", "mode": "once", "image": image_url})
        with pytest.raises(UnsupportedActionError, match="offers no virtual CD/DVD media"):
            PhysicalHostProvider().create(wanted)
    finally:
        stop(emulator)


def test_provider_round_trips_through_dill_and_still_works(hosts):
    pickled = serialize_provider(PhysicalHostProvider())
    provider = dill.loads(base64.b64decode(pickled))
    wanted = props(hosts[2], boot=None, power="off")
    created = provider.create(wanted)
    assert created.outs["power_state"] == "Off"
    provider.delete(created.id, created.outs)
    assert Path(__file__).exists()  # the test module itself was not pickled by value


def test_a_host_another_stack_holds_is_refused_never_released_and_reads_as_gone(hosts):
    host = hosts[3]
    provider = PhysicalHostProvider()
    other = owner_text("tests", "pim", "host", "1" * 32)  # same names, another stack
    created = provider.create(props(host, boot=None))
    try:
        with pytest.raises(OwnedElsewhereError, match=rf"host {host.name} at {host.bmc.address}"
                           rf" system {host.bmc.system_id} belongs to {OWNER}"):
            provider.create(props(host, boot=None, owner=other))
        theirs = {**created.outs, "owner": other}
        assert provider.read(created.id, theirs).id == ""
        provider.delete(created.id, theirs)  # their destroy: our host stays on
        with domain(host.name) as dom:
            assert dom.isActive()
        # ours again after a crash: a create of the same owner finds its record and carries on
        again = provider.create(props(host, boot=None))
        assert again.outs["power_state"] == "On"
    finally:
        provider.delete(created.id, created.outs)
    with domain(host.name) as dom:
        assert not dom.isActive()
    # released: the other stack may now claim it
    theirs_now = provider.create(props(host, boot=None, owner=other))
    provider.delete(theirs_now.id, theirs_now.outs)


def test_a_claim_that_fails_leaves_no_record(hosts):
    host = hosts[3]
    provider = PhysicalHostProvider()
    with pytest.raises(UnsupportedActionError):
        provider.create(props(host, boot={"target": "uefi_http", "image": "http://127.0.0.1:9/x"}))
    other = owner_text("tests", "pim", "host", "2" * 32)
    created = provider.create(props(host, boot=None, owner=other))  # nobody holds it
    provider.delete(created.id, created.outs)

"""PhysicalHost through a fault-injecting proxy in front of the lab's BMC: what is repeated,
what reaches the BMC, and what a failed claim leaves behind."""

import functools
import http.server
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from tcra.providers.physical_host import PhysicalHostProvider

from tcra.bmc import ATTEMPTS, BmcError
from tcra.inventory import load
from tcra.lab import bmc as lab_bmc
from tcra.lab import tls
from tcra.lab.spec import LabSpec
from tcra.model import Host
from tcra.ownership import owner_text
from tcra.secrets import resolve
from tests.integration.conftest import needs_lab, running_lab
from tests.integration.redfish_proxy import Fault, RedfishProxy

RESET = "ComputerSystem.Reset"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSpec]:
    with running_lab(tmp_path_factory.mktemp("faults"), "citestfault", nodes=2) as spec:
        yield spec


@pytest.fixture(scope="module")
def hosts(spec: LabSpec) -> list[Host]:
    return load(spec.inventory).hosts


@pytest.fixture
def proxy(spec: LabSpec, hosts: list[Host]) -> Iterator[RedfishProxy]:
    """HTTPS on both sides, with the lab's CA: faults meet the client through TLS."""
    with RedfishProxy(hosts[0].bmc.address, tls.files(lab_bmc.tls_folder(spec))) as running:
        yield running


@pytest.fixture(scope="module")
def image_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("images")
    (folder / "installer.iso").write_bytes(b"\0" * 65536)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/installer.iso"
    server.shutdown()
    server.server_close()


def props(host: Host, address: str, **overrides: Any) -> dict[str, Any]:
    base = {"host": host.name, "address": address, "system_id": host.bmc.system_id,
            "username": host.bmc.credentials.username,
            "password": resolve(host.bmc.credentials.password), "auth": host.bmc.auth,
            "ca_bundle": str(host.bmc.ca_bundle), "power": "on", "boot": None, "timeout": 5,
            "power_timeout": 10, "shutdown_timeout": 1,
            "owner": owner_text("tests", "faults", "host", "0" * 32)}
    return {**base, **overrides}


class Bmc:
    """The lab's BMC read and driven straight over HTTPS, beside the code under test."""

    def __init__(self, host: Host) -> None:
        self.url = host.bmc.address
        self.system = f"{self.url}/redfish/v1/Systems/{host.bmc.system_id}"
        self.auth = (host.bmc.credentials.username, resolve(host.bmc.credentials.password))
        self.verify = str(host.bmc.ca_bundle)

    def get(self, url: str) -> dict[str, Any]:
        reply = requests.get(url, auth=self.auth, verify=self.verify, timeout=10)
        reply.raise_for_status()
        return dict(reply.json())

    def state(self) -> dict[str, Any]:
        system = self.get(self.system)
        media = []
        for manager in self.get(f"{self.url}/redfish/v1/Managers")["Members"]:
            found = self.get(f"{self.url}{manager['@odata.id']}")
            if "VirtualMedia" not in found:
                continue
            for device in self.get(f"{self.url}{found['VirtualMedia']['@odata.id']}")["Members"]:
                entry = self.get(f"{self.url}{device['@odata.id']}")
                if entry.get("Inserted"):
                    media.append(entry.get("Image"))
        return {"power": system["PowerState"], "media": media,
                "boot": (system["Boot"].get("BootSourceOverrideTarget"),
                         system["Boot"].get("BootSourceOverrideEnabled")),
                "bios": self.get(f"{self.system}/BIOS")["Attributes"]}

    def reset(self, kind: str) -> None:
        requests.post(f"{self.system}/Actions/{RESET}", json={"ResetType": kind},
                      auth=self.auth, verify=self.verify, timeout=10).raise_for_status()

    def boot(self, target: str, enabled: str) -> None:
        requests.patch(self.system, json={"Boot": {"BootSourceOverrideTarget": target,
                                                   "BootSourceOverrideEnabled": enabled}},
                       auth=self.auth, verify=self.verify, timeout=10).raise_for_status()

    def off(self) -> None:
        if self.state()["power"] != "Off":
            self.reset("ForceOff")


@pytest.fixture
def bmc(hosts: list[Host]) -> Iterator[Bmc]:
    node = Bmc(hosts[0])
    node.off()
    node.boot("Hdd", "Continuous")
    yield node
    node.off()


@pytest.mark.parametrize(("fault", "times"), [("503_after_forward", 1),
                                              ("drop_after_forward", 1),
                                              ("503_after_forward", None)])
@pytest.mark.lab
@needs_lab
def test_unanswered_power_on_reaches_the_bmc_once(hosts, proxy, bmc, fault: Fault, times):
    proxy.inject("POST", RESET, fault, times=times)
    wanted = props(hosts[0], proxy.url, boot={"target": "pxe", "mode": "once"})
    created = PhysicalHostProvider().create(wanted)
    assert created.outs["power_state"] == "On"
    assert proxy.resets() == ["On"]
    assert bmc.state()["power"] == "On"


@pytest.mark.lab
@needs_lab
def test_unanswered_restart_is_not_repeated(hosts, proxy, bmc):
    bmc.reset("On")
    proxy.inject("POST", RESET, "503_after_forward")
    wanted = props(hosts[0], proxy.url, boot={"target": "pxe", "mode": "once"})
    with pytest.raises(BmcError, match=r"ForceRestart.*not sent again"):
        PhysicalHostProvider().create(wanted)
    assert proxy.resets().count("ForceRestart") == 1


@pytest.mark.lab
@needs_lab
def test_release_sends_graceful_shutdown_once(hosts, proxy, bmc):
    wanted = props(hosts[0], proxy.url)
    created = PhysicalHostProvider().create(wanted)
    proxy.clear()
    proxy.inject("POST", RESET, "503_after_forward")
    PhysicalHostProvider().delete(created.id, created.outs)
    assert proxy.resets().count("GracefulShutdown") == 1
    assert bmc.state()["power"] == "Off"


@pytest.mark.lab
@needs_lab
def test_a_get_answered_5xx_reaches_the_bmc_at_most_attempts_times(hosts, proxy):
    system_id = hosts[0].bmc.system_id
    proxy.inject("GET", f"/Systems/{system_id}", "503_after_forward")
    with pytest.raises(BmcError, match=f"no usable answer after {ATTEMPTS} attempts"):
        PhysicalHostProvider().read("id", props(hosts[0], proxy.url))
    assert proxy.count("GET", f"/Systems/{system_id}") == ATTEMPTS


@pytest.mark.lab
@needs_lab
def test_one_session_per_call_and_a_poll_that_reads_only_the_power(hosts, proxy, bmc):
    system = f"/redfish/v1/Systems/{hosts[0].bmc.system_id}"
    wanted = props(hosts[0], proxy.url, shutdown_timeout=3)  # no OS: graceful times out
    created = PhysicalHostProvider().create(wanted)
    assert proxy.count_exact("GET", "/redfish/v1/") == 1  # one login: one session
    proxy.clear()
    PhysicalHostProvider().delete(created.id, created.outs)
    gets = Counter(r.path for r in proxy.reached if r.method == "GET")
    assert gets.pop("/redfish/v1/") == 1
    assert gets.pop(system) >= 4, "the wait for Off polls the system resource"
    assert all(count <= 2 for count in gets.values()), gets


@pytest.mark.parametrize("failing", ["boot_patch", "power_on"])
@pytest.mark.lab
@needs_lab
def test_a_failed_claim_leaves_the_node_as_it_was(hosts, proxy, bmc, image_url, failing):
    before = bmc.state()
    if failing == "boot_patch":
        proxy.inject("PATCH", f"/Systems/{hosts[0].bmc.system_id}", "503")
    else:
        proxy.inject("POST", RESET, "503", times=1)
    wanted = props(hosts[0], proxy.url, power_timeout=3,
                   boot={"target": "cd", "mode": "once", "image": image_url},
                   bios={"ProcTurboMode": "Disabled"})
    with pytest.raises(BmcError):
        PhysicalHostProvider().create(wanted)
    assert proxy.count("POST", "InsertMedia") == 1
    assert bmc.state() == before


@pytest.mark.lab
@needs_lab
def test_update_changes_only_what_differs_and_reads_bios_back(hosts, proxy, bmc):
    provider = PhysicalHostProvider()
    wanted = props(hosts[0], proxy.url, boot={"target": "pxe", "mode": "once"},
                   bios={"ProcTurboMode": "Disabled"})
    created = provider.create(wanted)
    assert created.outs["bios"] == {"ProcTurboMode": "Disabled"}
    bmc.boot("Hdd", "Continuous")  # the PXE boot happened; the BMC moved on
    bmc.reset("ForceOff")  # drift, repaired by the next update
    proxy.clear()
    refreshed = provider.read(created.id, created.outs).outs
    assert refreshed["power_state"] == "Off"
    assert provider.diff(created.id, refreshed, wanted).changes
    restored = provider.update(created.id, refreshed, wanted).outs
    assert restored["power_state"] == "On"
    assert proxy.count("PATCH") == 0  # neither boot override nor BIOS written again
    assert proxy.resets() == ["On"]
    assert bmc.state()["boot"] == ("Hdd", "Continuous")  # no second PXE boot armed

    requests.patch(f"{bmc.system}/BIOS/Settings",
                   json={"Attributes": {"ProcTurboMode": "Enabled"}},
                   auth=bmc.auth, verify=bmc.verify, timeout=10).raise_for_status()
    drifted = provider.read(created.id, restored).outs
    assert drifted["bios"] == {"ProcTurboMode": "Enabled"}
    assert provider.diff(created.id, drifted, wanted).changes
    provider.delete(created.id, restored)


def test_a_tls_failure_is_reported_once_as_such(tmp_path: Path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    accepted = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    original = server.get_request

    def counted() -> Any:
        accepted.append(1)
        return original()

    server.get_request = counted  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        wanted = {"host": "h1", "address": url, "system_id": "1", "username": "u",
                  "password": "p", "timeout": 5,
                  "owner": owner_text("tests", "faults", "h1", "0" * 32)}
        with pytest.raises(BmcError) as caught:
            PhysicalHostProvider().read("id", wanted)
        assert str(caught.value).startswith(f"host h1: BMC {url}: TLS")
        assert "certificate" in str(caught.value)
        assert len(accepted) == 1
    finally:
        server.shutdown()
        server.server_close()

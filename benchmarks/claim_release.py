"""Claim and release lab hosts through PhysicalHost's provider: one, then N one at a time, then
N in parallel, side by side in one run. Brings up its own lab and removes it afterwards.

Run as root: .venv/bin/python benchmarks/claim_release.py [--hosts 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import libvirt
from tcra.providers.physical_host import PhysicalHostProvider

from tcra import lab
from tcra.inventory import load
from tcra.lab.spec import LabSpec
from tcra.model import Host
from tcra.ownership import owner_text
from tcra.secrets import resolve


def props(host: Host) -> dict[str, Any]:
    return {"host": host.name, "address": host.bmc.address, "system_id": host.bmc.system_id,
            "username": host.bmc.credentials.username,
            "password": resolve(host.bmc.credentials.password), "power": "on",
            "ca_bundle": str(host.bmc.ca_bundle),  # the lab's CA: its BMC serves HTTPS
            "auth": host.bmc.auth, "boot": {"target": "pxe", "mode": "once"},
            "shutdown_timeout": 0,
            "owner": owner_text("benchmarks", "claim-release", host.name, "0" * 32)}


def run(hosts: list[Host], workers: int) -> tuple[float, float]:
    """Claim every host (PXE once, power on, wait for On), then release them all (off, clear
    the override); returns the seconds each phase took."""
    provider = PhysicalHostProvider()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        claimed = list(pool.map(lambda host: provider.create(props(host)), hosts))
        middle = time.perf_counter()
        list(pool.map(lambda created: provider.delete(created.id, created.outs), claimed))
        end = time.perf_counter()
    return middle - start, end - middle


def hypervisor_floor(hosts: list[Host], workers: int) -> tuple[float, float]:
    """The same power cycle straight through libvirt, no Redfish: what the machine allows."""

    def power(name: str, on: bool) -> None:
        conn = libvirt.open("qemu:///system")
        try:
            domain = conn.lookupByName(name)
            domain.create() if on else domain.destroy()
        finally:
            conn.close()

    names = [host.name for host in hosts]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        list(pool.map(lambda name: power(name, True), names))
        middle = time.perf_counter()
        list(pool.map(lambda name: power(name, False), names))
        end = time.perf_counter()
    return middle - start, end - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        spec = LabSpec(name="bench", nodes=args.hosts, state_root=Path(folder) / "state",
                       inventory=Path(folder) / "inventory")
        try:
            lab.up(spec)
            hosts = list(load(spec.inventory).hosts)
            one = run(hosts[:1], 1)
            serial = run(hosts, 1)
            parallel = run(hosts, len(hosts))
            floor_one = hypervisor_floor(hosts[:1], 1)
            floor = hypervisor_floor(hosts, len(hosts))
        finally:
            lab.down(spec)
    n = len(hosts)
    print("lab hosts over Redfish (sushy-tools emulator over libvirt/KVM)   claim  release  total")
    for label, (claim, release) in (
            ("1 host", one), (f"{n} hosts one at a time", serial),
            (f"{n} hosts in parallel", parallel),
            ("hypervisor floor, libvirt start/destroy only: 1 domain", floor_one),
            (f"hypervisor floor, libvirt start/destroy only: {n} in parallel", floor)):
        print(f"{label:<62} {claim:6.2f}s {release:7.2f}s {claim + release:6.2f}s")
    print(f"ratio {n} in parallel / 1 host (target <= 3x): claim {parallel[0] / one[0]:.2f}x,"
          f" release {parallel[1] / one[1]:.2f}x, total {sum(parallel) / sum(one):.2f}x")
    print(f"speed-up of parallel over one at a time: {sum(serial) / sum(parallel):.2f}x")
    print(f"hypervisor floor ratio {n} in parallel / 1 domain: {sum(floor) / sum(floor_one):.2f}x")


if __name__ == "__main__":
    main()

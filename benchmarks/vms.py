"""Create, start and delete N small VMs through VirtualMachine's provider, one at a time and
then in parallel, side by side in one run; each VM gets a disk cloned from the base image and
a cloud-init seed. Brings up its own lab and removes it afterwards.

Run as root: .venv/bin/python benchmarks/vms.py [--vms 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tcra.providers.virtual_machine import VirtualMachineProvider

from tcra import lab
from tcra.lab import vip
from tcra.lab.nodes import pool_name
from tcra.lab.spec import LabSpec
from tcra.ownership import owner_text


def props(spec: LabSpec, name: str) -> dict[str, Any]:
    return {"name": name, "vcpus": 1, "memory": "32Mi",
            "disks": [{"pool": pool_name(spec), "size": "16Mi",
                       "base_image": vip.base_image_name(spec)}],
            "interfaces": [{"network": vip.network_name(spec)}],
            "cloud_init": {"ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza bench@tcra"]},
            "owner": owner_text("benchmarks", "vms", name, "0" * 32)}


def run(spec: LabSpec, count: int, workers: int, label: str) -> tuple[float, float]:
    """Seconds to create and start every VM (running), then to delete them all."""
    provider = VirtualMachineProvider()
    wanted = [props(spec, f"bench-{label}-{i}") for i in range(count)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        created = list(pool.map(provider.create, wanted))
        middle = time.perf_counter()
        list(pool.map(lambda made: provider.delete(made.id, made.outs), created))
        end = time.perf_counter()
    assert all(made.outs["state"] == "running" for made in created)
    return middle - start, end - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=20)
    args = parser.parse_args()
    n = args.vms
    with tempfile.TemporaryDirectory() as folder:
        spec = LabSpec(name="benchvm", nodes=1, hugepages=0, state_root=Path(folder) / "state",
                       inventory=Path(folder) / "inventory")
        try:
            lab.up(spec)
            run(spec, 1, 1, "warm")  # first domain start loads QEMU and its firmware from disk
            serial = run(spec, n, 1, "serial")
            parallel = run(spec, n, n, "parallel")
        finally:
            lab.down(spec)
    print(f"{n} VMs (1 vCPU, 32 MiB, cloned disk, cloud-init seed) on libvirt/KVM"
          "      create+start   delete    total  per VM")
    for label, (made, removed) in (("one at a time (baseline)", serial),
                                   (f"in parallel ({n} workers)", parallel)):
        total = made + removed
        print(f"{label:<62} {made:9.2f}s {removed:7.2f}s {total:7.2f}s {total / n:6.3f}s")
    print(f"ratio parallel / one at a time: {sum(parallel) / sum(serial):.2f}x"
          f" (speed-up {sum(serial) / sum(parallel):.2f}x)")


if __name__ == "__main__":
    main()

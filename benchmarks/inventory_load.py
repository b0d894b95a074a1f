"""How long tcra takes to read and validate a large inventory, beside Ansible reading it alone.

Baseline: `ansible-inventory --list`, what an operator runs to read the same folder with Ansible
(parse, group_vars/host_vars, JSON out). tcra: `tcra.inventory.load`, which parses through the
same ansible-core loader and then validates every site and host into the model.
Run: .venv/bin/python benchmarks/inventory_load.py [--sites 50 --hosts-per-site 20 --runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tcra.inventory import load


def make_inventory(root: Path, sites: int, hosts_per_site: int) -> None:
    site_names = [f"site_{s:04d}" for s in range(sites)]
    children = {
        name: {"hosts": {f"{name.replace('_', '-')}-{h:03d}": None for h in range(hosts_per_site)}}
        for name in site_names
    }
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"sites": {
        "children": children}}}}))
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "tcra_bmc_credentials": {"username": "tcra", "password": "env:TCRA_BMC_PASSWORD"},
        "tcra_capabilities": {"cores": 32, "memory": "256Gi"}}))
    for s, name in enumerate(site_names):
        (root / "group_vars" / f"{name}.yml").write_text(yaml.safe_dump({"tcra_site": {
            "tier": ["far-edge", "edge", "regional", "core"][s % 4],
            "location": {"lat": 40 + s % 20, "lon": s % 30}, "provider": "bench",
            "jurisdiction": ["DE", "FR", "SE", "IT"][s % 4],
            "energy": {"price_per_kwh": 0.2, "carbon_intensity": 300, "pue": 1.4,
                       "renewable_share": 0.5},
            "network": {"locator": f"2001:db8:{s:x}::/48"}}}))
        for h, host in enumerate(children[name]["hosts"]):
            (root / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump({"tcra_bmc": {
                "address": f"https://192.0.2.{h % 250 + 1}:{8000 + s}", "system_id": str(h)}}))


def timed(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--hosts-per-site", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ansible_inventory = str(Path(sys.executable).parent / "ansible-inventory")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_inventory(root, args.sites, args.hosts_per_site)
        hosts = args.sites * args.hosts_per_site
        baseline = timed(lambda: subprocess.run([ansible_inventory, "-i", str(root), "--list"],
                                                check=True, capture_output=True), args.runs)
        ours = timed(lambda: load(root), args.runs)
    print(f"inventory of {args.sites} sites, {hosts} hosts, median of {args.runs} runs")
    print(f"baseline ansible-inventory --list : {baseline:8.3f} s")
    print(f"tcra.inventory.load (validated)   : {ours:8.3f} s")
    print(f"ratio tcra/baseline               : {ours / baseline:8.2f}x")


if __name__ == "__main__":
    main()

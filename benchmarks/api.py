"""The northbound API's speed, each beside its baseline in one run, printing ratios.

1. Placement per createAppInstance on a 1,000-site continuum (tcra.mco.generate, each site with
   a cluster and two hosts) with 10,000 placements recorded in a SQLite store: one
   tcra.api.placing.Bookings booking after another, as the server makes them (what is taken at
   the zone's sites checked against the store, then placed), for a zone of one site and for a
   region's zone (the MCO chooses among its sites). Baseline: the same requests on the same
   continuum with nothing recorded. Target: p99 <= 50 ms.
2. 100 concurrent createAppInstance requests to `tcra serve`'s app (uvicorn on 127.0.0.1 in a
   process of its own, as `tcra serve` runs it, a SQLite store, no workers: the time to the
   202 answer, booking included, deployment not), on the same continuum and store, from
   client threads of this process. Baseline: 100 concurrent GET /edge-cloud-zones to the same
   server. Target: p99 <= 200 ms.

Run: .venv/bin/python benchmarks/api.py [--sites 1000] [--placements 10000] [--requests 100]
(--serve FOLDER is the server's process, started by the run.)
(Deployments per minute on the lab: tests/e2e/test_api_lab.py's timings, docs/api.md.)
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tcra.api.app import BASE, create
from tcra.api.auth import Verifier, ensure_signing_key, token
from tcra.api.deploy import Deployer
from tcra.api.placing import Bookings
from tcra.api.policies import Policies
from tcra.api.store import ApiStore
from tcra.api.zones import region, region_zone_id, zone_id
from tcra.mco.generate import generate
from tcra.mco.model import (
    LatencyBudget,
    Placement,
    Policy,
    Resources,
    ServiceRecord,
    WorkloadKind,
    WorkloadRequest,
)
from tcra.model import BmcCredentials, BmcEndpoint, Capabilities, Inventory, Quantity, SiteCluster
from tcra.model.host import Host
from tcra.model.inventory import ApiIssuer

TENANT = "BenchRobotics"


def continuum(sites: int, kubeconfig: Path) -> Inventory:
    """A generated continuum as an inventory: every site with a cluster and two hosts."""
    repository = generate(sites, sites * 5, seed=7).repository
    credentials = BmcCredentials(username="bench", password="env:TCRA_BENCH_UNUSED")  # noqa: S106 - a reference, never read
    hosts = []
    for state in repository.sites:
        cores = max(2, int(state.largest_host_cpu))
        for i in range(2):
            hosts.append(Host(
                name=f"{state.site.id}-{i}", site=state.site.id,
                bmc=BmcEndpoint(address="https://127.0.0.1:8000", system_id=f"s{i}",
                                credentials=credentials),
                capabilities=Capabilities(cores=cores, memory=Quantity(f"{cores * 4}Gi"))))
    return Inventory(
        sites=tuple(s.site.model_copy(update={"cluster": SiteCluster(
            name=f"{s.site.id}-k8s", kubeconfig=kubeconfig)}) for s in repository.sites),
        hosts=tuple(hosts))


def helm_app(name: str, provider: str, chart: str, memory_mb: int) -> dict:
    """The manifest of a Helm app of one CPU answering HTTP on 8080: the chart at 0.1.0."""
    return {"name": name, "appProvider": provider, "version": "0.1.0", "packageType": "HELM",
            "appRepo": {"type": "PUBLICREPO", "imagePath": chart},
            "requiredResources": {"infraKind": "kubernetes", "isStandalone": False,
                                  "applicationResources": {"cpuPool": {
                                      "numCPU": 1, "memory": memory_mb, "topology": {
                                          "minNumberOfNodes": 1, "minNodeCpu": 1,
                                          "minNodeMemory": memory_mb}}}},
            "componentSpec": [{"componentName": "web", "networkInterfaces": [
                {"interfaceId": "http", "protocol": "TCP", "port": 8080,
                 "visibilityType": "VISIBILITY_EXTERNAL"}]}]}


def store_with(url: str, inventory: Inventory, count: int) -> ApiStore:
    """A migrated store holding `count` placements (services of 10 workloads), spread over
    the sites, each with a latency budget and the plan's estimates."""
    store = ApiStore(url)
    store.migrate()
    small = Resources(cpu=0.5, memory=Quantity("512Mi"))
    sites = inventory.sites
    for service in range(count // 10):
        store.record(ServiceRecord(service=f"svc-{service}", tenant="default", owner="bench",
                                   placements=tuple(Placement(
                                       service=f"svc-{service}", workload=f"w{i}",
                                       site=(site := sites[(service * 10 + i) % len(sites)].id),
                                       kind=WorkloadKind.CAF, cluster=f"{site}-k8s",
                                       resources=small, cost_per_hour=0.02,
                                       carbon_per_hour=5.0, latency=(
                                           LatencyBudget(area="users", max_ms=20),))
                                       for i in range(10))))
    return store


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000)


def time_placements(bookings: Bookings, zones: list[tuple[str, tuple[str, ...]]]
                    ) -> list[float]:
    """Per request: one booking, kept nowhere (the instance's row is part 2's)."""
    times = []
    for i, (zone, sites) in enumerate(zones):
        workload = WorkloadRequest(name=f"bench-{i:08x}", resources=Resources(
            cpu=1, memory=Quantity("1Gi")), sites=sites)
        start = time.perf_counter()
        bookings.book(Policy(), [(f"app-{i}", workload, zone)], lambda _placed: None)
        times.append(time.perf_counter() - start)
    return times


def placement(inventory: Inventory, count: int, folder: Path) -> None:
    by_region: dict[str, list[str]] = {}
    for site in inventory.sites:
        by_region.setdefault(region(site), []).append(site.id)
    one = [(zone_id(s.id), (s.id,)) for s in inventory.sites[::5]][:100]
    wide = [(region_zone_id(r), tuple(s)) for r, s in sorted(by_region.items())] * 7
    taken = store_with(f"sqlite:///{folder / 'store.db'}", inventory, count)
    empty = store_with(f"sqlite:///{folder / 'empty.db'}", inventory, 0)
    loaded, unloaded = Bookings(inventory, taken), Bookings(inventory, empty)
    time_placements(unloaded, one[:5])  # warm: imports, first numpy calls
    print(f"placement, {len(inventory.sites)} sites, p50 / p99 ms"
          f" ({len(wide) // 7} regions, ~{len(inventory.sites) * 7 // len(wide)} sites each)")
    for label, zones in (("zone of one site", one), ("region's zone   ", wide)):
        full = percentiles(time_placements(loaded, zones))
        base = percentiles(time_placements(unloaded, zones))
        print(f"  {label}  {count} recorded: {full[0]:6.1f} / {full[1]:6.1f}"
              f"   none recorded: {base[0]:6.1f} / {base[1]:6.1f}"
              f"   ratio p99 {full[1] / base[1]:.2f}")


def concurrent(requests: int, call: Callable[[int], int]) -> tuple[list[float], list[int]]:
    times: list[float] = [0.0] * requests
    statuses: list[int] = [0] * requests

    def one(i: int) -> None:
        start = time.perf_counter()
        statuses[i] = call(i)
        times[i] = time.perf_counter() - start

    with ThreadPoolExecutor(requests) as pool:
        list(pool.map(one, range(requests)))
    return times, statuses


def server_app(folder: Path, sites: int) -> FastAPI:
    """`tcra serve`'s app on the run's continuum and store (both made again: the same seed)."""
    inventory = continuum(sites, folder / "kubeconfig")
    url = f"sqlite:///{folder}/store.db"
    store = ApiStore(url)
    policies = Policies()
    deployer = Deployer(store, inventory, folder / "inventory", url, folder / "serve",
                        policies, workers=0)
    public = ensure_signing_key(folder / "keys")[1]
    return create(inventory, store, Verifier(ApiIssuer(issuer="bench", public_key=public)),
                  deployer, policies)


def serve(folder: Path, sites: int) -> None:
    """The server's process: uvicorn as `tcra serve` runs it, on a port it prints."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    print(listening.getsockname()[1], flush=True)
    app = server_app(folder, sites)
    gc.freeze()  # as tcra serve does
    uvicorn.Server(uvicorn.Config(app, log_level="error",
                                  timeout_keep_alive=5, limit_concurrency=256,
                                  h11_max_incomplete_event_size=16384)).run([listening])


@contextmanager
def server(folder: Path, sites: int) -> Iterator[str]:
    """The API's base URL, served by a process of its own while the block runs."""
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(folder),
                                "--sites", str(sites)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = f"http://127.0.0.1:{int(process.stdout.readline())}{BASE}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/openapi.json", timeout=5).close()  # noqa: S310
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def answers(inventory: Inventory, requests: int, folder: Path) -> None:
    private = ensure_signing_key(folder / "keys")[0]
    headers = {"Authorization": f"Bearer {token(private, 'bench', TENANT)}",
               "Content-Type": "application/json"}
    with server(folder, len(inventory.sites)) as url:

        def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
            request = urllib.request.Request(f"{url}{path}", method=method,  # noqa: S310
                                             headers=headers,
                                             data=json.dumps(body).encode() if body else None)
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"{}")

        _, app_made = call("POST", "/apps", helm_app("bench_app", TENANT,
                                                     "oci://127.0.0.1:5443/charts/x", 1024))
        regions = sorted({region(s) for s in inventory.sites})

        def create_one(i: int) -> int:
            return call("POST", "/app-instances", {
                "name": f"bench_{i}", "appId": app_made["appId"],
                "edgeCloudZoneId": region_zone_id(regions[i % len(regions)])})[0]

        def zones_one(_: int) -> int:
            return call("GET", "/edge-cloud-zones?perPage=1")[0]

        zones_one(0)
        base, base_statuses = concurrent(requests, zones_one)
        made, statuses = concurrent(requests, create_one)
    assert set(statuses) == {202} and set(base_statuses) == {200}, (statuses, base_statuses)
    created, listed = percentiles(made), percentiles(base)
    print(f"{requests} concurrent requests to the API (a server process of its own), time to"
          " the answer, p50 / p99 ms")
    print(f"  createAppInstance (202, placed in a region's zone): {created[0]:6.1f} /"
          f" {created[1]:6.1f}")
    print(f"  baseline GET /edge-cloud-zones (200):              {listed[0]:6.1f} /"
          f" {listed[1]:6.1f}")
    print(f"  ratio p99 {created[1] / listed[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--placements", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.sites)
        return
    with tempfile.TemporaryDirectory() as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        inventory = continuum(args.sites, kubeconfig)
        placement(inventory, args.placements, Path(folder))
        answers(inventory, args.requests, Path(folder))


if __name__ == "__main__":
    main()

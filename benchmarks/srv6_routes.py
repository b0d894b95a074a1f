"""Programming SRv6 H.Encaps routes: tcra's netlink applier beside one `ip` process per route
and a single `ip -batch`, on the same routes, in one run.

- tcra: tcra.tcm.netlink.apply (stdlib rtnetlink, chunked sends, every ACK read).
- per-route processes: `ip -n NS -6 route replace ...` once per route, as a shell loop or an
  Ansible `command` task would. With --sample N, only N processes are timed and the total is
  extrapolated (labelled so in the output).
- ip -batch: one `ip -n NS -6 -batch FILE` over a file written beforehand (not timed).
All three take their input ready-made: Route objects for tcra, command lines for ip.
Each way starts from an empty namespace (proto-199 routes flushed) and must leave exactly
--routes proto-199 routes, checked with `ip -6 route show proto 199 table all`.
Run as root: .venv/bin/python benchmarks/srv6_routes.py [--routes 10000] [--sample 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from tcra.tcm import netlink
from tcra.tcm.route import TCRA_PROTO, Route

DEV = "bench0"


def ip(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout


@contextmanager
def namespace() -> Iterator[str]:
    name = f"tcrabench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        ip(name, "link", "add", DEV, "type", "veth", "peer", "name", "bench1")
        ip(name, "link", "set", DEV, "up")
        ip(name, "link", "set", "bench1", "up")
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                        "net.ipv6.conf.all.seg6_enabled=1", "net.ipv6.conf.all.forwarding=1"],
                       check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=60)


def make_routes(count: int) -> list[Route]:
    return [
        Route(
            dst=IPv6Network(((0xFD10 << 112) | (i << 64), 64)),
            dev=DEV,
            segments=tuple(IPv6Address((0xFC00 << 112) | (i << 16) | k)
                           for k in range(1, i % 3 + 2)),
        )
        for i in range(count)
    ]


def command(route: Route) -> list[str]:
    segs = ",".join(str(segment) for segment in route.segments)
    return ["route", "replace", str(route.dst), "encap", "seg6", "mode", "encap", "segs", segs,
            "dev", route.dev, "proto", str(TCRA_PROTO)]


def tcra_count(netns: str) -> int:
    return sum(1 for line in ip(netns, "-6", "route", "show", "proto", str(TCRA_PROTO),
                                "table", "all").splitlines() if line.strip())


def flush(netns: str) -> None:
    ip(netns, "-6", "route", "flush", "proto", str(TCRA_PROTO), "table", "all")
    assert tcra_count(netns) == 0


def timed(netns: str, expect: int, run: Callable[[], None]) -> float:
    flush(netns)
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    found = tcra_count(netns)
    assert found == expect, f"expected {expect} proto-{TCRA_PROTO} routes, found {found}"
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of tcra and ip -batch")
    parser.add_argument("--sample", type=int, default=0,
                        help="time only this many per-route processes and extrapolate")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    routes = make_routes(args.routes)
    build = time.perf_counter() - start
    commands = [command(route) for route in routes]

    with namespace() as netns, tempfile.TemporaryDirectory(prefix="tcrabench-") as tmp:
        ifindex = {DEV: int(ip(netns, "-o", "link", "show", DEV).split(":", 1)[0])}
        batch = Path(tmp) / "routes.batch"
        batch.write_text("".join(" ".join(line) + "\n" for line in commands))

        def run_tcra() -> None:
            errors = netlink.apply(routes, ifindex, netns)
            assert not errors, errors[:3]

        def run_batch() -> None:
            subprocess.run(["ip", "-n", netns, "-6", "-batch", str(batch)], check=True,
                           timeout=600)

        sample = args.sample if 0 < args.sample < args.routes else args.routes

        def run_processes() -> None:
            for line in commands[:sample]:
                subprocess.run(["ip", "-n", netns, "-6", *line], check=True, timeout=30)

        tcra_runs, batch_runs = [], []
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            tcra_runs.append(timed(netns, args.routes, run_tcra))
            batch_runs.append(timed(netns, args.routes, run_batch))
        processes = timed(netns, sample, run_processes) * args.routes / sample
        flush(netns)
    tcra, ipbatch = statistics.median(tcra_runs), statistics.median(batch_runs)

    label = "" if sample == args.routes else f" (EXTRAPOLATED from {sample} processes)"
    n = args.routes
    print(f"{n:,} H.Encaps routes (1-3 segments, distinct /64s), proto {TCRA_PROTO}, "
          f"one fresh namespace; median of {args.repeat} alternating runs of tcra and ip -batch")
    print(f"  (building {n:,} Route objects, not timed below: {build:.3f} s)")
    runs = "  runs: " + " ".join(f"{t:.3f}" for t in tcra_runs)
    print(f"  tcra netlink.apply      {tcra:8.3f} s  {tcra / n * 1e6:7.1f} us/route{runs}")
    runs = "  runs: " + " ".join(f"{t:.3f}" for t in batch_runs)
    print(f"  ip -batch (1 process)   {ipbatch:8.3f} s  {ipbatch / n * 1e6:7.1f} us/route{runs}")
    print(f"  ip per route            {processes:8.3f} s  {processes / n * 1e6:7.1f} us/route"
          f"{label}")
    speedup, slowdown = processes / tcra, tcra / ipbatch
    print(f"  per-route processes / tcra = {speedup:6.1f}x  (target >= 10x: "
          f"{'met' if speedup >= 10 else 'NOT met'})")
    print(f"  tcra / ip -batch           = {slowdown:6.2f}x  (target <= 2x: "
          f"{'met' if slowdown <= 2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

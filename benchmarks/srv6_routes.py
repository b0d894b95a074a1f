"""Programming SRv6 H.Encaps routes: tcra's netlink writer beside pyroute2, one `ip` process per
route and a single `ip -batch`, on the same routes, in one run, at several route counts.

- tcra: tcra.tcm.netlink.apply (stdlib rtnetlink, chunked sends, every ACK read).
- pyroute2 IPRoute: `IPRoute(netns=NS).route("replace", ...)` once per route, each waiting for
  its ACK: what tcra.tcm.kernel would do with pyroute2.
- pyroute2 async: one AsyncIPRoute(netns=NS), `route("replace", ...)` awaited 64 at a time with
  asyncio.gather, pyroute2's only way to keep several requests in flight. (Its IPBatch compiles
  messages but neither sends them nor reads ACKs; its encoding cost is timed apart, below. NDB
  cannot commit a route in a namespace in pyroute2 0.9: svinota/pyroute2#1438.)
- per-route processes: `ip -n NS -6 route replace ...` once per route, as a shell loop or an
  Ansible `command` task would. With --sample N, only N processes are timed and the total is
  extrapolated (labelled so in the output).
- ip -batch: one `ip -n NS -6 -batch FILE` over a file written beforehand (not timed).
Every way takes its input ready-made (Route objects for tcra, keyword dicts for pyroute2,
command lines for ip); opening the socket in the namespace is timed, as every apply pays it.
Each way starts from an empty namespace (proto-199 routes flushed) and must leave exactly
that many proto-199 routes, checked with `ip -6 route show proto 199 table all`.
Run as root: .venv/bin/python benchmarks/srv6_routes.py [--routes 10 1000 10000] [--sample 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from pyroute2 import AsyncIPRoute, IPBatch, IPRoute

from tcra.tcm import netlink
from tcra.tcm.route import TCRA_PROTO, Route

DEV = "bench0"
IN_FLIGHT = 64
"""Requests the pyroute2 async row keeps in flight (tcra sends 64 messages a send())."""


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


def pyroute2_spec(route: Route, oif: int) -> dict[str, Any]:
    """The keywords that make pyroute2 send the message tcra sends (tests/unit/
    test_tcm_netlink_encoding.py holds the two byte for byte); segments in SRH order."""
    return {"family": socket.AF_INET6, "dst": str(route.dst), "oif": oif, "table": route.table,
            "proto": TCRA_PROTO, "type": "unicast",
            "encap": {"type": "seg6", "mode": "encap",
                      "segs": [str(s) for s in reversed(route.segments)]}}


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


def encoding_only(routes: list[Route], specs: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds to encode every route, nothing sent: tcra's encode_route, then pyroute2's
    IPBatch compiler. The two buffers must be equally long (the same messages)."""
    start = time.perf_counter()
    ours = b"".join(netlink.encode_route(r, oif=spec["oif"], seq=i + 1)
                    for i, (r, spec) in enumerate(zip(routes, specs, strict=True)))
    tcra = time.perf_counter() - start
    batch = IPBatch()
    try:
        start = time.perf_counter()
        for spec in specs:
            batch.route("replace", **spec)
        pyroute2 = time.perf_counter() - start
        assert len(batch.batch) == len(ours), (len(batch.batch), len(ours))
    finally:
        batch.close()
    return tcra, pyroute2


def measure(netns: str, count: int, repeat: int, sample: int, tmp: Path) -> None:
    routes = make_routes(count)
    ifindex = {DEV: int(ip(netns, "-o", "link", "show", DEV).split(":", 1)[0])}
    specs = [pyroute2_spec(route, ifindex[DEV]) for route in routes]
    commands = [command(route) for route in routes]
    batch = tmp / f"routes-{count}.batch"
    batch.write_text("".join(" ".join(line) + "\n" for line in commands))

    def run_tcra() -> None:
        errors = netlink.apply(routes, ifindex, netns)
        assert not errors, errors[:3]

    def run_batch() -> None:
        subprocess.run(["ip", "-n", netns, "-6", "-batch", str(batch)], check=True, timeout=600)

    def run_pyroute2() -> None:
        with IPRoute(netns=netns, flags=0) as ipr:  # flags=0: never create the namespace
            for spec in specs:
                ipr.route("replace", **spec)

    async def pyroute2_async() -> None:
        async with AsyncIPRoute(netns=netns, flags=0) as ipr:
            for start in range(0, len(specs), IN_FLIGHT):
                await asyncio.gather(*(ipr.route("replace", **spec)
                                       for spec in specs[start:start + IN_FLIGHT]))

    ways: dict[str, Callable[[], None]] = {
        "tcra netlink.apply": run_tcra,
        "ip -batch (1 process)": run_batch,
        "pyroute2 IPRoute": run_pyroute2,
        f"pyroute2 async x{IN_FLIGHT}": lambda: asyncio.run(pyroute2_async()),
    }
    runs: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):  # alternate, so every way sees the same machine load
        for name, run in ways.items():
            runs[name].append(timed(netns, count, run))
    sample = sample if 0 < sample < count else count

    def run_processes() -> None:
        for line in commands[:sample]:
            subprocess.run(["ip", "-n", netns, "-6", *line], check=True, timeout=30)

    processes = timed(netns, sample, run_processes) * count / sample
    flush(netns)
    encode_tcra, encode_pyroute2 = encoding_only(routes, specs)

    median = {name: statistics.median(times) for name, times in runs.items()}
    tcra = median["tcra netlink.apply"]
    print(f"{count:,} H.Encaps routes (1-3 segments, distinct /64s), proto {TCRA_PROTO}, one "
          f"fresh namespace; median of {repeat} alternating runs (socket opening included)")
    for name, seconds in median.items():
        times = " ".join(f"{t:.3f}" for t in runs[name])
        print(f"  {name:<24}{seconds:8.3f} s {seconds / count * 1e6:8.1f} us/route"
              f"  {seconds / tcra:6.1f}x tcra  runs: {times}")
    label = "" if sample == count else f"  (EXTRAPOLATED from {sample} processes)"
    print(f"  {'ip per route':<24}{processes:8.3f} s {processes / count * 1e6:8.1f} us/route"
          f"  {processes / tcra:6.1f}x tcra{label}")
    print(f"  encoding only, nothing sent: tcra encode_route {encode_tcra / count * 1e6:.1f} "
          f"us/route, pyroute2 IPBatch {encode_pyroute2 / count * 1e6:.1f} us/route "
          f"({encode_pyroute2 / encode_tcra:.0f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, nargs="+", default=[10, 1_000, 10_000],
                        help="route counts: a chain on one HBR is a handful, a fabric thousands")
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs of each way")
    parser.add_argument("--sample", type=int, default=0,
                        help="time only this many per-route processes and extrapolate")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    with namespace() as netns, tempfile.TemporaryDirectory(prefix="tcrabench-") as tmp:
        for count in args.routes:
            measure(netns, count, args.repeat, args.sample, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Replacing a chain's function while users' traffic crosses it: make before break beside its
baseline, in one run, as packets lost by a continuous ping through the chain.

A chain (users at lab_faredge -> fw -> app) through two pods of the chain-function chart on
site lab_factory's cluster, one `pulumi up` of two Workloads and an SRv6Chain. Then, for each
way, fw's pods are rolled by one `up` (a new pod annotation) while the users ping the service
every 20 ms: the new pod comes up first, the same `up` steers the chain to it, and the old pod
goes `drainSeconds` after its successor is Ready. Make before break: 15 s, longer than the
switch takes. Baseline: 0, the old pod goes as soon as the new one is Ready, before the switch.
Printed per way: packets sent and lost, the longest gap, the `up`'s wall time; and the ratio of
losses. Brings up its own lab (with Kubernetes) and takes it down afterwards, or uses a running
one (--lab NAME).

Run as root: .venv/bin/python benchmarks/chain_move.py [--lab lab] [--rolls 2]
"""

from __future__ import annotations

import argparse
import json
import time

from kube_bench import kubernetes_lab, pulumi_project

from tcra.lab.kube.registry import ADDRESS
from tcra.lab.spec import load_state
from tcra.lab.users import INTERVAL, pinging
from tcra.mcm.chart import trust_env

PROGRAM = """\
import pulumi
from tcra import Workload, WorkloadArgs
from tcra.components.srv6_chain import SRv6Chain, SRv6ChainArgs
from tcra.components.workload import Endpoint
from tcra.inventory import load
from tcra.model.fabric import Chain

inventory = load({inventory!r})
fabric = inventory.fabric
hbr = fabric.serving("lab_factory")
cluster = inventory.site("lab_factory").cluster
config = pulumi.Config()


def function(name, **values):
    return Workload(name, WorkloadArgs(
        chart={chart!r}, version="0.1.0", values=values, kubeconfig=cluster.kubeconfig.read_text(),
        node_selector=cluster.node_selector, endpoint=Endpoint(kind="pod")))


def ipv6(addresses):
    return next(a for a in addresses if ":" in a)


fw = function("fw", forward=True, drainSeconds=config.require_int("drain"),
              podAnnotations={{"generation": config.require("generation")}})
app = function("app", serviceAddress={service_address!r})
SRv6Chain("web", SRv6ChainArgs(fabric=fabric, chain=Chain(
    name="web", ingress={ingress!r}, destination={destination!r}, functions=("fw",),
    egress="app", placement={{"fw": hbr.name, "app": hbr.name}},
    addresses={{"fw": None, "app": None}}), pods={{"fw": fw.pod_addresses().apply(ipv6),
                                                 "app": app.pod_addresses().apply(ipv6)}}))
"""


def roll(pulumi, fabric, drain: int, generation: int) -> tuple[int, int, float, float]:
    """One `up` that rolls fw's pod, the users pinging the service meanwhile."""
    pulumi("config", "set", "drain", str(drain))
    pulumi("up", "--yes", "--skip-preview")  # the drain the next roll's old pod gets
    pulumi("config", "set", "generation", str(generation))
    with pinging(fabric) as losses:
        time.sleep(2)
        started = time.perf_counter()
        pulumi("up", "--yes", "--skip-preview")
        seconds = time.perf_counter() - started
        time.sleep(drain + 3)  # until the old pod is gone: what it forwarded counts too
    return losses.sent, losses.lost, losses.longest_gap, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", help="use this running lab (with Kubernetes)")
    parser.add_argument("--rolls", type=int, default=2, help="rolls per way")
    args = parser.parse_args()
    with kubernetes_lab(args.lab) as (spec, work):
        state = load_state(spec)
        program = PROGRAM.format(
            inventory=str(spec.inventory), chart=f"oci://{ADDRESS}/charts/chain-function",
            service_address=state.fabric.service_address, ingress=state.fabric.users_hbr,
            destination=state.fabric.service_prefix)
        pulumi = pulumi_project(work / "project", program, work / "pulumi-home",
                                env=trust_env(state.kubernetes.trust))
        pulumi("config", "set", "drain", "15")
        pulumi("config", "set", "generation", "0")
        try:
            pulumi("up", "--yes", "--skip-preview")
            results: dict[str, list[tuple[int, int, float, float]]] = {}
            generation = 0
            for way, drain in (("make before break (drain 15 s)", 15),
                               ("baseline (drain 0 s)", 0)):
                for _ in range(args.rolls):
                    generation += 1
                    results.setdefault(way, []).append(
                        roll(pulumi, state.fabric, drain, generation))
        finally:
            pulumi("destroy", "--yes")
    print(f"chain users -> fw -> app on lab {spec.name}; fw's pod rolled by one `up`,"
          f" ping every {INTERVAL * 1000:g} ms")
    lost = {}
    for way, runs in results.items():
        for sent, missed, gap, seconds in runs:
            print(f"  {way:32} sent {sent:5}  lost {missed:4}  longest gap {gap:5.2f} s"
                  f"  up {seconds:5.1f} s")
        lost[way] = sum(r[1] for r in runs)
    make, base = lost.values()
    print(f"packets lost, make before break / baseline: {make} / {base}"
          f" = {make / base if base else float('nan'):.3f}")
    print(json.dumps({"lost": lost}))


if __name__ == "__main__":
    main()

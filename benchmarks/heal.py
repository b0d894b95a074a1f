"""Time from an approval to a healthy measurement, beside a bare `pulumi up` of the same move,
in one run, printing their ratio.

On the demo lab (`scripts/deploy-lab`: the plant's far-edge users -> fw -> app on
lab_factory): `tcra sense serve` probes the chain every second, the lab's Alertmanager sends
to `scripts/deploy-lab actions serve`. Each round congests the underlay, waits for the agent's
proposal (app and fw to lab_faredge, where the users are), then times:
- tcra: `scripts/deploy-lab actions approve` (a second preview, the digest compared, `up`),
  until the probe measures app's round trip under its budget again, the underlay still
  congested (the move's rollout, the chain re-steered, one probe);
- baseline: after the repair, `scripts/deploy-lab pulumi up` moving both back (TCRA_MEASURED
  says lab_faredge is over the budget): what the same move costs the engine alone.
Printed: per round and median, and the ratio. Run as root on the demo lab:
.venv/bin/python benchmarks/heal.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from fault_alert import TCRA, answering, get, medians, until

from tcra.act.model import ActionState
from tcra.act.stack import MEASURED
from tcra.act.store import ActionStore
from tcra.inventory import load
from tcra.lab.spec import LabSpec, load_state

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = str(ROOT / "scripts" / "deploy-lab")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    state = load_state(LabSpec())
    if state is None or state.monitor is None or state.inventory is None:
        sys.exit("the demo lab is not up: scripts/deploy-lab")
    config = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    budget = next(e["max_latency_ms"] for e in config["tcra-lab:catalog"] if e["name"] == "app")
    metrics = f"http://127.0.0.1:{state.monitor.sense_port}/metrics"
    actions = ActionStore(load(state.inventory).store)

    def rtt() -> float:
        return next(float(line.split()[-1]) for line in get(metrics).splitlines()
                    if line.startswith('tcra_probe_rtt_ms{service="plant",workload="app"}'))

    def proposed(since: float) -> str | None:
        return next((a.id for a in actions.actions()
                     if a.created >= since and a.state is ActionState.PROPOSED), None)

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    back = json.dumps({"service": "plant", "workload": "app", "site": "lab_faredge",
                       "rtt_ms": 2 * budget})

    def move_back() -> float:
        """app and fw back to lab_factory by a bare `pulumi up`; its seconds."""
        started = time.monotonic()
        subprocess.run([DEPLOY, "pulumi", "up", "--yes", "--skip-preview"], check=True,
                       timeout=900, env={**os.environ, MEASURED: back}, **quiet)
        return time.monotonic() - started

    if {p.workload: p.site for p in actions.placements("plant")}["app"] != "lab_factory":
        move_back()  # where an earlier approval left it: the rounds start from the factory
    subprocess.run([TCRA, "sense", "rules", "--lab", "lab"], check=True, timeout=60, **quiet)
    sensing = subprocess.Popen([TCRA, "sense", "serve", "--lab", "lab", "--probe", "plant/app",
                                "--every", "1"], **quiet)
    acting = subprocess.Popen([DEPLOY, "actions", "serve"], **quiet)
    healed, bare = [], []
    try:
        until(lambda: "tcra_probe_rtt_ms{" in answering(metrics), 60)
        for round_ in range(rounds):
            until(lambda: rtt() < budget, 120)
            fault = time.time()
            subprocess.run([TCRA, "lab", "impair", "--link", "underlay"], check=True,
                           timeout=60, **quiet)
            try:
                until(lambda since=fault: proposed(since) is not None, 300)
                started = time.monotonic()
                subprocess.run([DEPLOY, "actions", "approve", str(proposed(fault)), "--by",
                                "benchmark"], check=True, timeout=900, **quiet)
                healed.append(until(lambda: rtt() < budget, 120) - started)
            finally:
                subprocess.run([TCRA, "lab", "repair"], check=True, timeout=60, **quiet)
            bare.append(move_back())
            print(f"round {round_ + 1}: approval to healthy {healed[-1]:5.1f} s,"
                  f" bare up of the move back {bare[-1]:5.1f} s")
    finally:
        for process in (sensing, acting):
            process.terminate()
            process.wait(timeout=30)
    medians(budget, ("bare pulumi up of the move", bare),
            ("approval -> round trip under budget", healed))


if __name__ == "__main__":
    main()

"""Time from a fault to the alert, beside the time from the fault to the probe that first
measures it, in one run, printing their ratio.

On a lab where `make demo` deployed the manufacturing blueprint (the plant: far-edge users ->
fw -> app on lab_factory, app's budget in stacks/lab/Pulumi.lab.yaml): `tcra sense serve`
probes the chain every 2 s, `tcra sense rules` gives the lab's Prometheus (5 s scrape and
evaluation) app's budget. Each round congests the underlay (`tcra lab impair`), then polls
every 0.1 s:
- baseline: the sense endpoint, until the probe's round trip is over the budget (the
  measurement itself: what any monitoring waits for);
- tcra: Prometheus, until TcraLatencyBudgetExceeded fires (scrape, evaluation, rule);
then repairs and waits for the alert to clear. Printed: per round and median, and the ratio.
Run as root: .venv/bin/python benchmarks/fault_alert.py [--lab lab] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import yaml

from tcra.lab.spec import LabSpec, load_state

ROOT = Path(__file__).resolve().parents[1]
TCRA = str(Path(sys.executable).parent / "tcra")


def get(url: str) -> str:
    with urlopen(url, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1 only
        return answer.read().decode()


def answering(url: str) -> str:
    """The page, or nothing while the server is still starting."""
    try:
        return get(url)
    except OSError:
        return ""


def until(condition, timeout: float = 120.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", default="lab")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    state = load_state(LabSpec(name=args.lab))
    if state is None or state.monitor is None:
        sys.exit(f"lab {args.lab} is not up with its monitoring: make demo")
    config = yaml.safe_load((ROOT / "stacks/lab/Pulumi.lab.yaml").read_text())["config"]
    budget = next(e["max_latency_ms"] for e in config["tcra-lab:catalog"] if e["name"] == "app")
    metrics = f"http://127.0.0.1:{state.monitor.sense_port}/metrics"
    alerts = f"{state.monitor.prometheus_url}/api/v1/alerts"

    def measured_over() -> bool:
        return any(line.startswith('tcra_probe_rtt_ms{service="plant",workload="app"}')
                   and float(line.split()[-1]) > budget for line in get(metrics).splitlines())

    def firing() -> bool:
        return any(a["labels"]["alertname"] == "TcraLatencyBudgetExceeded"
                   and a["labels"].get("service") == "plant" and a["state"] == "firing"
                   for a in json.loads(get(alerts))["data"]["alerts"])

    lab = ["--name", args.lab]
    subprocess.run([TCRA, "sense", "rules", "--lab", args.lab], check=True, timeout=60)
    sensing = subprocess.Popen([TCRA, "sense", "serve", "--lab", args.lab, "--probe",
                                "plant/app", "--every", "2"], stdout=subprocess.DEVNULL)
    detected, fired = [], []
    try:
        until(lambda: "tcra_probe_rtt_ms{" in answering(metrics), 60)
        for round_ in range(args.rounds):
            until(lambda: not firing())
            subprocess.run([TCRA, "lab", "impair", "--link", "underlay", *lab], check=True,
                           timeout=60, stdout=subprocess.DEVNULL)
            fault = time.monotonic()
            try:
                detected.append(until(measured_over) - fault)
                fired.append(until(firing) - fault)
            finally:
                subprocess.run([TCRA, "lab", "repair", *lab], check=True, timeout=60,
                               stdout=subprocess.DEVNULL)
            print(f"round {round_ + 1}: probe over budget after {detected[-1]:5.1f} s,"
                  f" alert firing after {fired[-1]:5.1f} s")
    finally:
        sensing.terminate()
        sensing.wait(timeout=30)
    medians(budget, ("fault -> probe over budget", detected), ("fault -> alert firing", fired))


def medians(budget: float, baseline: tuple[str, list[float]], tcra: tuple[str, list[float]]
            ) -> None:
    """The medians of the rounds, side by side, and their ratio."""
    (base_name, base), (name, ours) = ((n, statistics.median(v)) for n, v in (baseline, tcra))
    print(f"budget {budget} ms; median over {len(tcra[1])} rounds:")
    print(f"  {base_name + ' (baseline)':44} {base:6.1f} s")
    print(f"  {name + ' (tcra)':44} {ours:6.1f} s")
    print(f"  {'ratio tcra / baseline':44} {ours / base:6.2f}")


if __name__ == "__main__":
    main()

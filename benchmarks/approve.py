"""Time from an approval to the re-placement applied, beside a bare `pulumi up` of the same
change, in one run, printing their ratio.

The stack is the manufacturing blueprint's MCO on the example inventory (blocks off: the plan
and the workload inventory, so the figures are the loop's own, not a rollout's), in a
temporary folder with a local backend. Each round measures Munich's factory over the broker's
budget (45 ms) or clears it, alternately, so every round moves the broker and its gateway:
- baseline: `pulumi up` with TCRA_MEASURED set (what applying the change costs at least);
- tcra: the agent proposes (a preview, recorded), then `approve` previews again, compares the
  digest and applies (the approval's wait, what an operator sees after saying yes).
Printed: per round and median, and the ratio. Needs the engine (scripts/build-pulumi).
Run: .venv/bin/python benchmarks/approve.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tcra.act.agent import Agent
from tcra.act.alerts import Notification
from tcra.act.stack import MEASURED, StackRef
from tcra.act.store import ActionStore

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"inventory": str(ROOT / "inventories" / "example"),
          "factory_sites[0]": "factory_munich", "factory_sites[1]": "factory_lyon",
          "far_edge_site": "faredge_munich", "allow_partial": "true", "live": "false",
          **{f"blocks.{b}": "false" for b in ("bare_metal", "virtual_machines", "kubernetes",
                                              "connectivity")}}


def project(root: Path) -> StackRef:
    """stacks/example copied under root, stack "bench" on a local backend, up once."""
    folder = root / "example"
    folder.mkdir()
    shutil.copy(ROOT / "stacks" / "example" / "__main__.py", folder)
    (folder / "Pulumi.yaml").write_text((ROOT / "stacks" / "example" / "Pulumi.yaml")
                                        .read_text().replace("../../.venv", str(ROOT / ".venv")))
    engine = subprocess.run([str(ROOT / "scripts" / "build-pulumi")], check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    os.environ.update({"PATH": f"{ROOT / '.venv' / 'bin'}:{engine}:{os.environ['PATH']}",
                       "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
                       "PULUMI_CONFIG_PASSPHRASE": "bench", "PULUMI_HOME": str(root / "home"),
                       "PULUMI_SKIP_UPDATE_CHECK": "true"})
    (root / "state").mkdir()
    run(folder, "stack", "init", "bench")
    for key, value in {**CONFIG, "store_url": f"sqlite:///{root / 'mco.db'}"}.items():
        run(folder, "config", "set", "--path", key, value)
    run(folder, "up", "--yes", "--skip-preview")
    return StackRef(project=folder, stack="bench")


def run(folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["pulumi", *args, "--non-interactive"], cwd=folder, check=True,
                   capture_output=True, text=True, env={**os.environ, **(env or {})})


def alert(rtt: float, start: str) -> Notification:
    return Notification.model_validate({"version": "4", "status": "firing", "receiver": "b",
                                        "alerts": [{"status": "firing", "fingerprint": "b",
                                                    "startsAt": start, "labels": {
            "alertname": "TcraLatencyBudgetExceeded", "service": "plant",
            "workload": "opcua-gateway-factory_munich"},
            "annotations": {"rtt_ms": str(rtt)}}]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        stack = project(root)
        store = ActionStore(f"sqlite:///{root / 'mco.db'}")
        agent = Agent(store, stack)
        bare, approved = [], []
        for number in range(rounds):
            # away from factory_munich (measured over the budget there), then back (measured
            # over it at the far edge where it went)
            site = {p.workload: p.site for p in store.placements("plant")}
            here = site["opcua-gateway-factory_munich"]
            measured = json.dumps({"service": "plant", "site": here, "rtt_ms": 45.0,
                                   "workload": "opcua-gateway-factory_munich"})
            started = time.perf_counter()
            run(stack.project, "up", "--yes", "--skip-preview", env={MEASURED: measured})
            bare.append(time.perf_counter() - started)
            # and back, through the agent: propose, then time the approval
            there = {p.workload: p.site for p in store.placements("plant")}[
                "opcua-gateway-factory_munich"]
            (action,) = agent.receive(alert(45.0, f"round-{number}-{there}"))
            assert action.state.value == "proposed", action
            started = time.perf_counter()
            done = agent.approve(action.id, "bench")
            approved.append(time.perf_counter() - started)
            assert done.state.value == "applied", done
            print(f"round {number + 1}: bare up {bare[-1]:.2f} s ({here} -> {there}),"
                  f" approval to applied {approved[-1]:.2f} s ({there} -> back)")
        run(stack.project, "destroy", "--yes", "--skip-preview")
    base, tcra = statistics.median(bare), statistics.median(approved)
    print(f"median: bare up {base:.2f} s, approval to applied {tcra:.2f} s,"
          f" ratio {tcra / base:.2f}")


if __name__ == "__main__":
    main()

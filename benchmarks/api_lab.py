"""Deployments per minute through `tcra serve` on the lab, beside its baseline, in one run.

Through the API: an app (the chain-function chart from the lab's registry) instantiated at site
lab_factory, timed from the POST to `ready` (placement, the worker's Pulumi stack: the EdgeApp
blueprint's MCO, Helm release and workload-inventory record) and from the DELETE to gone.
Baseline: the same chart as one tcra Workload in a plain Pulumi program, `pulumi up` and
`pulumi destroy` timed. Each round does both; printed: per round, then deployments per minute
each way and their ratio. Brings up its own lab (with Kubernetes) and takes it down afterwards,
or uses a running one (--lab NAME).

Run as root: .venv/bin/python benchmarks/api_lab.py [--lab lab] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api import helm_app
from kube_bench import ROOT, kubernetes_lab, pulumi_project

from tcra.api.app import BASE
from tcra.api.auth import token
from tcra.api.zones import zone_id
from tcra.lab.issuer import issuer, signing_key
from tcra.lab.processes import free_port
from tcra.lab.spec import LabSpec, load_state
from tcra.mcm.chart import trust_env

CHART = "oci://127.0.0.1:5443/charts/chain-function"
PROGRAM = """\
from tcra import Workload, WorkloadArgs
from tcra.components.workload import Endpoint
from tcra.inventory import load

cluster = load({inventory!r}).site("lab_factory").cluster
Workload("web", WorkloadArgs(chart={chart!r}, version="0.1.0",
         kubeconfig=cluster.kubeconfig.read_text(), node_selector=cluster.node_selector,
         endpoint=Endpoint(kind="pod")))
"""
TIMEOUT_S = 300


class Api:
    def __init__(self, url: str, bearer: str) -> None:
        self.url, self.bearer = url, bearer

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None
                 ) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            f"{self.url}{path}", method=method, data=json.dumps(body).encode() if body else None,
            headers={"Authorization": f"Bearer {self.bearer}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def wait(self, instance: str, gone: bool) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            status, shown = self("GET", f"/app-instances/{instance}")
            if (gone and status == 404) or (not gone and shown.get("status") == "ready"):
                return
            if shown.get("status") == "failed":
                raise RuntimeError(f"instance failed: {shown.get('reason')}")
            time.sleep(0.25)
        raise RuntimeError(f"instance {instance}: not {'gone' if gone else 'ready'} in time")


def through_api(api: Api, app_id: str, round_: int) -> tuple[float, float]:
    started = time.monotonic()
    status, made = api("POST", "/app-instances", {
        "name": f"bench_{round_}", "appId": app_id, "edgeCloudZoneId": zone_id("lab_factory")})
    if status != 202:
        raise RuntimeError(f"createAppInstance: {status} {made}")
    api.wait(made["appInstanceId"], gone=False)
    deployed = time.monotonic() - started
    started = time.monotonic()
    api("DELETE", f"/app-instances/{made['appInstanceId']}")
    api.wait(made["appInstanceId"], gone=True)
    return deployed, time.monotonic() - started


def by_hand(pulumi: Any) -> tuple[float, float]:
    started = time.monotonic()
    pulumi("up", "--yes", "--skip-preview")
    deployed = time.monotonic() - started
    started = time.monotonic()
    pulumi("destroy", "--yes", "--skip-preview")
    return deployed, time.monotonic() - started


def serve(spec: LabSpec, work: Path, engine_path: str) -> tuple[subprocess.Popen[str], Api]:
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/tcra"), "serve", "--inventory", str(spec.inventory), "--port",
         str(port), "--state", str(work / "serve")], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env={**os.environ, "PATH": engine_path})
    api = Api(f"http://127.0.0.1:{port}{BASE}",
              token(signing_key(spec), issuer(spec).issuer, "BenchRobotics"))
    deadline = time.monotonic() + 30
    while True:
        try:
            api("GET", "/apps")
            return server, api
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", default=None, help="A running lab with Kubernetes.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with kubernetes_lab(args.lab) as (spec, work):
        state = load_state(spec)
        assert state is not None and state.kubernetes is not None
        trust = trust_env(state.kubernetes.trust)
        pulumi = pulumi_project(work / "project", PROGRAM.format(
            inventory=str(spec.inventory), chart=CHART), work / "pulumi-home", env=trust)
        engine = subprocess.run([str(ROOT / "scripts" / "build-pulumi")], capture_output=True,
                                text=True, check=True).stdout.strip().splitlines()[-1]
        server, api = serve(spec, work, f"{engine}:{os.environ['PATH']}")
        try:
            status, made = api("POST", "/apps", helm_app("bench_web", "BenchRobotics", CHART, 16))
            assert status == 201, made
            rows = []
            print("a Helm release on lab_factory's cluster, seconds: deploy / remove")
            for round_ in range(args.rounds):
                api_times, hand_times = through_api(api, made["appId"], round_), by_hand(pulumi)
                rows.append((api_times, hand_times))
                print(f"  round {round_ + 1}: through the API {api_times[0]:5.1f} /"
                      f" {api_times[1]:5.1f}   pulumi up of one Workload {hand_times[0]:5.1f} /"
                      f" {hand_times[1]:5.1f}")
            api("DELETE", f"/apps/{made['appId']}")
        finally:
            server.terminate()
            server.wait(timeout=60)
        per_api = 60 / statistics.mean(a[0] + a[1] for a, _ in rows)
        per_hand = 60 / statistics.mean(h[0] + h[1] for _, h in rows)
        print(f"deployments per minute (deploy and remove, one at a time): through the API"
              f" {per_api:.1f}, pulumi up of one Workload {per_hand:.1f},"
              f" ratio {per_api / per_hand:.2f}")


if __name__ == "__main__":
    main()

"""What the benchmarks on the lab's Kubernetes share: a lab of their own (or a running one),
kubectl on its cluster, a Pulumi project run through the built engine, the cluster's peak RSS."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tcra import lab
from tcra.inventory import load
from tcra.lab.kube import binaries
from tcra.lab.kube.control_plane import rss_mib
from tcra.lab.spec import LabSpec, load_state

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 3600.0


class Kubectl:
    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        self.kubeconfig = kubeconfig
        self.program = binaries.find().kubectl()
        self.cache = cache

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([self.program, "--kubeconfig", str(self.kubeconfig),
                               "--cache-dir", str(self.cache), *args], input=stdin,
                              capture_output=True, text=True, check=True, timeout=TIMEOUT)
        return done.stdout


@contextmanager
def kubernetes_lab(existing: str | None) -> Iterator[tuple[LabSpec, Path]]:
    """A lab with Kubernetes of the benchmark's own, taken down afterwards; or the running lab
    named `existing` (default state folder), left up. Yields it and a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="tcra-bench-") as folder:
        work = Path(folder)
        if existing:
            state = load_state(LabSpec(name=existing))
            if state is None or state.kubernetes is None:
                raise SystemExit(f"lab {existing} is not up with Kubernetes")
            yield state.spec.model_copy(update={"inventory": state.inventory}), work
            return
        spec = LabSpec(name="benchk8s", nodes=1, hugepages=0, state_root=work / "state",
                       inventory=work / "inventory", kubernetes=True)
        try:
            lab.up(spec)
            yield spec, work
        finally:
            lab.down(spec)


def kubectl_for(spec: LabSpec, work: Path) -> Kubectl:
    return Kubectl(load(spec.inventory).management_cluster("lab_factory").kubeconfig,
                   work / "kubectl-cache")


@contextmanager
def peak_rss(spec: LabSpec) -> Iterator[list[float]]:
    """The lab's Kubernetes peak RSS in MiB while the block runs (in peak[0])."""
    peak = [0.0]
    done = threading.Event()
    cluster = load_state(spec).kubernetes

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(cluster))
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def pulumi_project(project: Path, program: str, home: Path,
                   env: dict[str, str] | None = None) -> Callable[..., None]:
    """A project with `program` and a local backend, initialised; returns `pulumi(*args)`."""
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: tcra-bench\nruntime: python\n")
    (project / "__main__.py").write_text(program)
    engine = subprocess.run([str(ROOT / "scripts" / "build-pulumi")], capture_output=True,
                            text=True, check=True).stdout.strip().splitlines()[-1]
    full = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{engine}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{project}", "PULUMI_CONFIG_PASSPHRASE": "bench",
            "PULUMI_HOME": str(home), "PULUMI_SKIP_UPDATE_CHECK": "true", **(env or {})}

    def pulumi(*args: str) -> None:
        subprocess.run(["pulumi", *args, "--non-interactive"], cwd=project, env=full,
                       check=True, capture_output=True, timeout=TIMEOUT)

    pulumi("stack", "init", "bench")
    return pulumi

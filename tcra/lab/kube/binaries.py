"""Where the lab's Kubernetes programs are (the management cluster's, its node's, Helm):
built once from Go modules by `scripts/build-kube` into a cache keyed by version, and found
here by asking that script."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pydantic import Field

from tcra.lab.processes import LabError
from tcra.model.base import Model

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "build-kube"
BUILD_TIMEOUT = 3 * 3600.0  # a cold build of everything takes most of an hour on 2 cores


class Binaries(Model):
    kubernetes: Path
    etcd: Path
    cluster_api: Path
    crds: Path
    webhooks: Path = Field(description="Upstream webhook configurations, one file per manager.")
    node: Path = Field(description="containerd, its runc shim and crictl.")
    helm: Path

    def kubectl(self) -> str:
        return str(self.kubernetes / "kubectl")


def find() -> Binaries:
    """The built programs, building what is missing first (most of an hour when cold)."""
    if not SCRIPT.exists():
        raise LabError(f"{SCRIPT} is missing: the lab's Kubernetes is built from a clone of"
                       " the tcra repository (or run `tcra lab up --no-kubernetes`)")
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=False,
                          timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise LabError(f"{SCRIPT.name}: {done.stderr.strip()[-2000:] or done.returncode}")
    folders = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        return Binaries(kubernetes=Path(folders["KUBERNETES_BIN"]),
                        etcd=Path(folders["ETCD_BIN"]), cluster_api=Path(folders["CAPI_BIN"]),
                        crds=Path(folders["CAPI_CRDS"]), webhooks=Path(folders["CAPI_WEBHOOKS"]),
                        node=Path(folders["NODE_BIN"]), helm=Path(folders["HELM_BIN"]))
    except KeyError as missing:
        raise LabError(f"{SCRIPT.name} did not print {missing.args[0]}=<folder>") from None

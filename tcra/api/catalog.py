"""What an app manifest becomes in tcra: a catalog entry of the blueprints (a Helm chart; a
container image run by tcra's container-app chart; or a VM from a QCOW2 image) and the
resources the MCO places it by.

Checked when the app is submitted, so an instance never fails for what its manifest says."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import tcra.blueprints
from tcra.api.errors import invalid
from tcra.api.schemas import (
    AppManifest,
    ContainerResources,
    KubernetesResources,
    PackageType,
    VmResources,
)
from tcra.blueprints.base import CatalogEntry
from tcra.mcm.chart import PINNED, PINNED_EXPECTED, Chart
from tcra.mco.model import Resources, WorkloadKind
from tcra.model import Quantity

# What tcra deploys each package type as, and the resources its manifest must describe.
DEPLOYS = {PackageType.HELM: ("kubernetes", "container"),
           PackageType.CONTAINER: ("container", "kubernetes"),
           PackageType.QCOW2: ("virtualMachine",)}
VOLUME = re.compile(r"^file:(?://)?/(?:[^/\s]+/)*(?P<volume>[^/\s]+)$")
# A registry's image with a tag or a digest: what a CONTAINER app runs, pinned.
IMAGE = re.compile(r"^(?:docker|oci)://(?P<reference>(?:[^/\s]+/)*[^/\s:@]+"
                   r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64}))$")
CONTAINER_CHART = Chart(chart=str(Path(tcra.blueprints.__file__).parent
                                  / "charts/container-app"), version="0.1.0")
PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "ANY": ("TCP", "UDP")}


def check(manifest: AppManifest) -> None:
    """What tcra cannot deploy is refused before it is stored, naming the field."""
    kinds = DEPLOYS.get(manifest.packageType)
    if kinds is None:
        raise invalid(f"packageType: expected one of {', '.join(DEPLOYS)} (got"
                      f" {manifest.packageType.value!r}): tcra deploys Helm charts on"
                      " Kubernetes and QCOW2 images as VMs")
    if manifest.requiredResources.infraKind not in kinds:
        raise invalid(f"requiredResources.infraKind: expected {' or '.join(kinds)} for"
                      f" packageType {manifest.packageType.value}"
                      f" (got {manifest.requiredResources.infraKind!r})")
    resources(manifest)
    path = manifest.appRepo.imagePath
    if manifest.packageType is PackageType.HELM:
        if not path.startswith("oci://"):
            raise invalid(f"appRepo.imagePath: expected a chart as an oci:// reference"
                          f" (got {path!r:.80})")
        if not PINNED.match(manifest.version):
            raise invalid(f"version: the chart's version, {PINNED_EXPECTED}"
                          f" (got {manifest.version!r:.40})")
    elif manifest.packageType is PackageType.CONTAINER:
        image(manifest)
        ports(manifest)
    elif not VOLUME.match(path):
        raise invalid("appRepo.imagePath: expected the QCOW2 image as a file: URL whose name"
                      " is a volume of the hypervisors' storage pool, as"
                      f" file:///var/lib/libvirt/images/app.qcow2 (got {path!r:.80})")


def workload_name(manifest: AppManifest, instance_id: str) -> str:
    """An instance's workload: the app's name (lower case) and the instance id's first part,
    so two instances never share a Helm release or a VM name."""
    return f"{manifest.name.lower()[:44]}-{instance_id[:8]}"


def form(manifest: AppManifest) -> WorkloadKind:
    return WorkloadKind.VAF if manifest.packageType is PackageType.QCOW2 else WorkloadKind.CAF


def entry(manifest: AppManifest, name: str) -> CatalogEntry:
    """The blueprint's catalog entry for one instance's workload `name`."""
    path = manifest.appRepo.imagePath
    if form(manifest) is WorkloadKind.VAF:
        return CatalogEntry(name=name, form=WorkloadKind.VAF, resources=resources(manifest),
                            per_site=False)
    booked = resources(manifest)
    chart = (Chart(chart=path, version=manifest.version)
             if manifest.packageType is PackageType.HELM else
             CONTAINER_CHART.model_copy(update={"values": {
                 "image": {"reference": image(manifest)},
                 "ports": ports(manifest),
                 "resources": {"requests": {"cpu": f"{round(booked.cpu * 1000)}m",
                                            "memory": str(booked.memory)},
                               "limits": {"memory": str(booked.memory)}}}}))
    return CatalogEntry(name=name, form=WorkloadKind.CAF, resources=booked, per_site=False,
                        chart=chart)


def image(manifest: AppManifest) -> str:
    """A CONTAINER app's image reference, without the scheme."""
    path = manifest.appRepo.imagePath
    found = IMAGE.match(path)
    if found is None:
        raise invalid("appRepo.imagePath: expected a container image with a tag or a digest,"
                      f" as docker://registry.example.com/team/app:1.2.0 (got {path!r:.80})")
    return found["reference"]


def ports(manifest: AppManifest) -> list[dict[str, Any]]:
    """A CONTAINER app's ports, one per network interface and protocol (ANY: both), as the
    container-app chart takes them; a port given twice for one protocol is refused."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for c, component in enumerate(manifest.componentSpec):
        for i, interface in enumerate(component.networkInterfaces):
            for protocol in PROTOCOLS[interface.protocol]:
                if (interface.port, protocol) in seen:
                    raise invalid(f"componentSpec[{c}].networkInterfaces[{i}].port: expected"
                                  f" each port once per protocol (got {interface.port}"
                                  f" {protocol} again)")
                seen.add((interface.port, protocol))
                found.append({"name": f"p{len(found)}", "port": interface.port,
                              "protocol": protocol})
    return found


def base_image(manifest: AppManifest) -> str | None:
    """The storage pool volume a QCOW2 app's VM disk is cloned from."""
    found = VOLUME.match(manifest.appRepo.imagePath)
    return found["volume"] if found and manifest.packageType is PackageType.QCOW2 else None


def resources(manifest: AppManifest) -> Resources:
    """What the MCO books: a Kubernetes app its CPU pool (or GPU pool), a container or VM
    what it names; memory is in MB in the definition."""
    required = manifest.requiredResources
    if isinstance(required, KubernetesResources):
        pools = required.applicationResources
        pool = pools.cpuPool or pools.gpuPool
        if pool is None:
            raise invalid("requiredResources.applicationResources: expected a cpuPool or a"
                          " gpuPool")
        gpus = pools.gpuPool.topology.minNumberOfNodes if pools.gpuPool else 0
        return Resources(cpu=pool.numCPU, memory=Quantity(f"{pool.memory}M"), gpus=gpus)
    if isinstance(required, ContainerResources):
        text = required.numCPU
        cpu = int(text[:-1]) / 1000 if text.endswith("m") else float(text)
        if cpu <= 0 or not math.isfinite(cpu):
            raise invalid(f"requiredResources.numCPU: expected more than 0 (got {text!r})")
        return Resources(cpu=cpu, memory=Quantity(f"{required.memory}M"),
                         gpus=required.gpu.numGPU if required.gpu else 0)
    if isinstance(required, VmResources):
        return Resources(cpu=required.numCPU, memory=Quantity(f"{required.memory}M"),
                         gpus=required.gpu.numGPU if required.gpu else 0)
    raise invalid("requiredResources.infraKind: expected one tcra deploys (got"
                  f" {required.infraKind!r})")

"""Write the lab as an ordinary inventory, so every tool reads the lab like a real site."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from tcra.lab.bmc import password_file
from tcra.lab.fabric_state import FabricState
from tcra.lab.hugepages import MOUNT_POINT, hugetlbfs_mount
from tcra.lab.issuer import issuer
from tcra.lab.kube.node import SITE_LABEL
from tcra.lab.nodes import pool_name
from tcra.lab.processes import LabError
from tcra.lab.spec import CA_FILE, Bmc, Hugepages, LabKubernetes, LabSpec, Node
from tcra.lab.vip import network_name
from tcra.model import (
    BmcCredentials,
    BmcEndpoint,
    Capabilities,
    Energy,
    HugepagePool,
    Location,
    ManagementCluster,
    NumaNode,
    Quantity,
    Site,
    SiteCluster,
    Tier,
)
from tcra.model.host import HUGEPAGE_SIZES, VmPlatform

MARKER = ".tcra-lab"
HEADER = "# Written by `tcra lab up`; `tcra lab down` removes it. Edit the lab, not this file.\n"

_SITES = {
    "lab_factory": Site(
        id="lab_factory", tier=Tier.EDGE, location=Location(lat=48.1772, lon=11.5562),
        provider="tcra lab", jurisdiction="DE",
        energy=Energy(price_per_kwh=0.21, carbon_intensity=380, pue=1.6, renewable_share=0.45),
    ),
    "lab_faredge": Site(
        id="lab_faredge", tier=Tier.FAR_EDGE, location=Location(lat=48.1851, lon=11.5412),
        provider="tcra lab", jurisdiction="DE",
        energy=Energy(price_per_kwh=0.26, carbon_intensity=380, pue=1.9, renewable_share=0.45),
    ),
}
HYPERVISOR = "lab-hypervisor"
HYPERVISOR_SITE = "lab_factory"
NODES = Path("/sys/devices/system/node")
# Ansible reaches the lab's own machine and its routers' namespaces without SSH.
_LOCAL = {"ansible_connection": "local",
          "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def write(spec: LabSpec, bmc: Bmc, nodes: tuple[Node, ...], fabric: FabricState,
          hugepages: Hugepages, kubernetes: LabKubernetes | None = None) -> Path:
    root = spec.inventory
    if root.exists() and not (root / MARKER).exists():
        raise LabError(f"{root} exists and was not written by the lab; choose another"
                       " --inventory or move it away")
    shutil.rmtree(root, ignore_errors=True)
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / MARKER).write_text(f"{spec.state_dir}\n")
    sites = {site: [n.name for n in nodes if n.site == site] for site in _SITES}
    sites[HYPERVISOR_SITE].append(HYPERVISOR)
    routers = {hbr.inventory_host: hbr for hbr in fabric.fabric.hbrs}
    _dump(root / "hosts.yml", {"all": {"children": {
        "sites": {"children": {site: {"hosts": dict.fromkeys(names)}
                               for site, names in sites.items()}},
        # what tcra.telco.site configures, by role; the nodes have no OS to configure
        "node_prep": {"hosts": {}},
        "hypervisors": {"hosts": {HYPERVISOR: None}},
        "hbr": {"hosts": dict.fromkeys(routers)},
    }}})
    credentials = BmcCredentials(username=bmc.username, password=f"file:{password_file(spec)}")
    _dump(root / "group_vars" / "all.yml", {
        "tcra_bmc_credentials": credentials.model_dump(mode="json"),
        "tcra_capabilities": Capabilities(cores=spec.vcpus, memory=spec.memory)
        .model_dump(mode="json", exclude_defaults=True),
        "tcra_fabric": fabric.fabric.model_dump(mode="json", exclude_defaults=True),
        # the stacks deployed onto the lab share one TCRR/TCWI; `lab down` removes it
        "tcra_store": f"sqlite:///{spec.state_dir / 'store.db'}",
        # whose tokens `tcra serve` accepts: the lab's own (`tcra lab token`)
        "tcra_api": issuer(spec).model_dump(mode="json", exclude_none=True),
        # where the VMs the API deploys get their disks and NICs: what `lab up` made
        "tcra_vm_platform": VmPlatform(pool=pool_name(spec), network=network_name(spec),
                                       disk=Quantity("64Mi")).model_dump(mode="json"),
    })
    # The lab's management cluster serves both sites, as one regional management cluster
    # serves many edge sites. Its kubeconfig stays in the state folder (0600, it holds the
    # admin's key), like the BMC password: Ansible would read any file in the inventory folder.
    # It doubles as the existing cluster of both sites, each with its own node for its pods.
    management = ManagementCluster(kubeconfig=kubernetes.kubeconfig) if kubernetes else None
    for site_id, site in _SITES.items():
        site = site.model_copy(update={"management_cluster": management,
                                       "cluster": _site_cluster(spec, site_id, kubernetes)})
        _dump(root / "group_vars" / f"{site_id}.yml",
              {"tcra_site": site.model_dump(mode="json", exclude={"id"}, exclude_defaults=True)})
    _dump(root / "host_vars" / f"{HYPERVISOR}.yml", {
        **_LOCAL,
        "tcra_libvirt_uri": spec.libvirt_uri,
        "tcra_capabilities": _this_machine(hugepages).model_dump(mode="json",
                                                                 exclude_defaults=True),
        "libvirt_host_hugepages_2m": hugepages.total,
        # The lab's machine is borrowed: nothing that outlives `tcra lab down` (no sysctl.d or
        # fstab lines, no apt run, never a restart of the libvirtd the lab runs).
        "libvirt_host_persist": False,
        "libvirt_host_service_manager": "none",
        "libvirt_host_manage_packages": False,
        **({"libvirt_host_hugetlbfs_path_2m": str(mount)}
           if (mount := hugetlbfs_mount()) and mount != MOUNT_POINT else {}),
    })
    for name, hbr in routers.items():
        _dump(root / "host_vars" / f"{name}.yml", {
            **_LOCAL, "hbr_netns": hbr.namespace or "", "hbr_locator": str(hbr.locator),
            "hbr_locator_dev": hbr.uplink, "hbr_interfaces": list(hbr.interfaces),
            "hbr_routes": [],
            "hbr_purge_routes": False,  # the SRv6 chains Pulumi declares own the routes
        })
    for node in nodes:
        # The emulator offers no Redfish sessions: basic auth saves a failed login per call.
        # Its HTTPS is verified against the lab's CA, as a real BMC's is against the site's.
        endpoint = BmcEndpoint(address=bmc.url, system_id=node.uuid, credentials=credentials,
                               auth="basic", ca_bundle=bmc.ca_bundle)
        _dump(root / "host_vars" / f"{node.name}.yml", {
            "tcra_bmc": endpoint.model_dump(mode="json", exclude={"credentials"},
                                            exclude_defaults=True)})
    return root.resolve()


def _this_machine(hugepages: Hugepages) -> Capabilities:
    """This machine as a hypervisor: its CPUs (all but CPU 0 may be pinned to, CPU 0 keeps
    the host and QEMU's threads), memory, NUMA nodes and the hugepages reserved on each."""
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal:"))
    cores = os.cpu_count() or 1
    nodes = _numa_nodes()
    if nodes:
        pools = tuple(HugepagePool(size=size, count=count) for size in HUGEPAGE_SIZES
                      if (count := sum(p.count for n in nodes for p in n.hugepages
                                       if p.size == size)))
    else:
        pools = ((HugepagePool(size=Quantity("2Mi"), count=hugepages.total),)
                 if hugepages.total else ())
    return Capabilities(cores=cores, memory=Quantity(f"{memory_kib}Ki"), hugepages=pools,
                        pinnable_cpus=tuple(range(1, cores)), numa_nodes=nodes)


def _numa_nodes() -> tuple[NumaNode, ...]:
    """The kernel's NUMA nodes with their CPUs and reserved hugepages; none without sysfs."""
    nodes = []
    for folder in sorted(NODES.glob("node[0-9]*"), key=lambda f: int(f.name[4:])):
        cpus = (folder / "cpulist").read_text().strip()
        if not cpus:  # a node of memory only
            continue
        pools = tuple(HugepagePool(size=size, count=count) for size in HUGEPAGE_SIZES
                      if (count := _node_pages(folder, size)))
        nodes.append(NumaNode(id=int(folder.name[4:]), cpus=cpus, hugepages=pools))
    return tuple(nodes)


def _node_pages(folder: Path, size: Quantity) -> int:
    pages = folder / "hugepages" / f"hugepages-{size.bytes // 1024}kB" / "nr_hugepages"
    return int(pages.read_text()) if pages.exists() else 0


def remove(path: Path) -> None:
    """Remove a lab-written inventory; leave anything else alone."""
    if (path / MARKER).exists():
        shutil.rmtree(path)


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False))


def _site_cluster(spec: LabSpec, site_id: str, kubernetes: LabKubernetes | None
                  ) -> SiteCluster | None:
    if kubernetes is None or all(node.site != site_id for node in kubernetes.nodes):
        return None
    return SiteCluster(name=f"tcra-{spec.name}", kubeconfig=kubernetes.kubeconfig,
                       registry=kubernetes.registry, registry_ca=kubernetes.trust / CA_FILE,
                       pod_endpoints=True, node_selector={SITE_LABEL: site_id})

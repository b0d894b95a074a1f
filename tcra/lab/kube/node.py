"""The lab's real Kubernetes nodes: each a kubelet with its containerd, runc and a CNI bridge.

The management cluster doubles as the cluster of both lab sites, as a regional cluster whose
nodes stand at several edge sites does: one control plane, and one node per site, labelled
with it, running that site's pods as real processes in their own namespaces. Everything a node
makes is named or rooted so `remove` finds it again: its folder (containerd's images, kubelet's
pods and logs), a short run folder (sockets: a Unix socket path has 108 bytes at most), the
bridge, and one cgroup per hierarchy. Only what a node cannot place elsewhere lands outside
those (FIXED_PATHS, shared by the nodes); the node that made them records it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import yaml

from tcra.lab import tls
from tcra.lab.kube import pki
from tcra.lab.processes import LabError, free_port, run
from tcra.lab.spec import POD_CIDRS, LabNode
from tcra.model.fabric import PodNetwork

RUNC = "/usr/sbin/runc"
CNI_PLUGINS = Path("/usr/lib/cni")
CGROUPS = Path("/sys/fs/cgroup")
SITE_LABEL = "tcra.io/site"
# Paths kubelet, containerd's shims and runc, and CNI's result cache use whatever they are told;
# the node records those it made, and removes them.
FIXED_PATHS = (Path("/var/log/containers"), Path("/run/containerd"), Path("/var/lib/cni"),
               Path("/var/lib/kubelet"))
CRICTL_TIMEOUT = 60.0


def plan(folder: Path, lab: str, programs: Path, site: str, index: int,
         current: LabNode | None, pods: PodNetwork | None = None) -> LabNode:
    """Lab `lab`'s node at `site`, the index-th, keeping the ports of the current one."""
    ports = current.ports if current else {}
    short = site.removeprefix("lab_")
    # A bridge's name has 15 bytes at most: a letter per site beside the lab's (12 at most).
    return LabNode(name=f"tcra-{lab}-kube-{short}", site=site,
                   pod_cidr=list(POD_CIDRS.subnets(new_prefix=24))[index],
                   folder=folder / short, run_folder=Path(f"/run/tcra/{lab}-{short}"),
                   crictl=programs / "crictl", bridge=f"t{short[-1]}-{lab}",
                   cgroup_root=f"/tcra-{lab}-{short}",
                   ports={name: ports.get(name) or free_port()
                          for name in ("kubelet", "kubelet-health", "containerd-metrics")},
                   created_paths=current.created_paths if current else (), pods=pods)


def prepare(node: LabNode, keys: pki.Pki, server: str, registry: str, pause_image: str
            ) -> LabNode:
    """Folders, cgroups, bridge, CNI and containerd/kubelet configuration; returns the node
    with what it created outside its folders recorded."""
    made = [p for p in FIXED_PATHS if not p.exists() and p not in node.created_paths]
    for path in FIXED_PATHS:
        path.mkdir(parents=True, exist_ok=True)
    node = node.model_copy(update={"created_paths": (*node.created_paths, *made)})
    for sub in ("cni", "containerd", "kubelet", "pod-logs", "certs.d"):
        (node.folder / sub).mkdir(parents=True, exist_ok=True)
    node.run_folder.mkdir(parents=True, exist_ok=True)
    _cgroup_root(node)
    _bridge(node)
    _cni_config(node)
    _registry_hosts(node, registry, keys.ca.certificate)
    _containerd_config(node, pause_image)
    _kubelet_config(node, keys, server)
    return node


def containerd_name(node: LabNode) -> str:
    """The node's containerd among the lab's components."""
    return f"containerd-{node.short}"


def kubelet_name(node: LabNode) -> str:
    return f"kubelet-{node.short}"


def containerd_argv(node: LabNode, programs: Path) -> list[str]:
    return [str(programs / "containerd"), "--config", str(node.folder / "containerd.toml")]


def kubelet_argv(node: LabNode, programs: Path) -> list[str]:
    return [str(programs / "kubelet"), "--config", str(node.folder / "kubelet.yaml"),
            "--kubeconfig", str(node.folder / "kubelet.kubeconfig"),
            # Its sockets (pod-resources, plugins) need a short path: under the run folder.
            "--root-dir", str(node.run_folder / "kubelet"), "--hostname-override", node.name,
            "--node-ip", node.address, "--node-labels", f"{SITE_LABEL}={node.site}"]


def containerd_health(node: LabNode) -> str:
    return f"http://{pki.HOST}:{node.ports['containerd-metrics']}/v1/metrics"


def kubelet_health(node: LabNode) -> str:
    return f"http://{pki.HOST}:{node.ports['kubelet-health']}/healthz"


def _cgroup_root(node: LabNode) -> None:
    """kubelet refuses a cgroupRoot that does not exist; cpuset needs its cpus and mems."""
    for hierarchy in _hierarchies():
        path = hierarchy / node.cgroup_root.lstrip("/")
        path.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (path / name).exists() and not (path / name).read_text().strip():
                (path / name).write_text((hierarchy / name).read_text())


def _hierarchies() -> list[Path]:
    """Every cgroup hierarchy: v1 controllers (cpu and cpuacct may be one, linked under two
    names), the named systemd one, and the hybrid unified one, where runc makes cgroups too."""
    seen: set[Path] = set()
    found = []
    for entry in sorted(CGROUPS.iterdir()):
        real = entry.resolve()
        if real in seen or not (real / "cgroup.procs").exists():
            continue
        seen.add(real)
        found.append(real)
    return found


def _bridge(node: LabNode) -> None:
    """The pods' bridge, made before kubelet starts so the node has its address."""
    gateway = f"{node.address}/{node.pod_cidr.prefixlen}"
    if not Path(f"/sys/class/net/{node.bridge}").exists():
        run(["ip", "link", "add", node.bridge, "type", "bridge"])
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", node.bridge],
                           capture_output=True, text=True, check=False, timeout=10).stdout
    if gateway not in shown:
        run(["ip", "addr", "add", gateway, "dev", node.bridge])
    run(["ip", "link", "set", node.bridge, "up"])


def _cni_config(node: LabNode) -> None:
    """IPv4 on the bridge (the node's address), and with a pod network IPv6 from it, routed
    out through its gateway, the fabric's HBR. The plugin is not the gateway: it would add
    the HBR's address to the bridge too, and turn forwarding on for the whole machine."""
    ranges = [[{"subnet": str(node.pod_cidr), "gateway": node.address}]]
    ipam: dict[str, object] = {"type": "host-local", "ranges": ranges,
                               "dataDir": str(node.folder / "cni" / "ipam")}
    if node.pods is not None:
        ranges.append([{"subnet": str(node.pods.prefix), "gateway": str(node.pods.gateway)}])
        ipam["routes"] = [{"dst": "::/0"}]
    conf = {"cniVersion": "1.0.0", "name": node.bridge, "plugins": [
        {"type": "bridge", "bridge": node.bridge, "isGateway": False, "ipMasq": False,
         "hairpinMode": True, "ipam": ipam}]}
    (node.folder / "cni" / "10-tcra.conflist").write_text(json.dumps(conf, indent=2))


def _registry_hosts(node: LabNode, registry: str, ca: Path) -> None:
    """containerd pulls from the lab's registry over TLS verified with the lab's CA."""
    hosts = node.folder / "certs.d" / registry
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts.toml").write_text(
        f'server = "https://{registry}"\n\n[host."https://{registry}"]\n'
        f'  capabilities = ["pull", "resolve"]\n  ca = "{ca}"\n')


def _containerd_config(node: LabNode, pause_image: str) -> None:
    """containerd 2's configuration (version 4): every path in the node's folders, no
    imports of the machine's /etc/containerd, plugins that would write elsewhere off."""
    images = "plugins.'io.containerd.cri.v1.images'"
    runtime = "plugins.'io.containerd.cri.v1.runtime'"
    runc = f"{runtime}.containerd.runtimes.runc"
    disabled = ["io.containerd.internal.v1.opt", "io.containerd.nri.v1.nri",
                "io.containerd.image-verifier.v1.bindir",
                "io.containerd.tracing.processor.v1.otlp",
                *(f"io.containerd.snapshotter.v1.{name}"
                  for name in ("btrfs", "zfs", "devmapper", "blockfile", "erofs"))]
    text = f"""version = 4
root = '{node.folder / "containerd"}'
state = '{node.run_folder / "state"}'
imports = []
disabled_plugins = {json.dumps(disabled)}

[plugins.'io.containerd.server.v1.grpc']
  address = '{node.socket}'

[plugins.'io.containerd.server.v1.ttrpc']
  address = '{node.run_folder / "containerd.sock.ttrpc"}'

[plugins.'io.containerd.server.v1.metrics']
  address = '{pki.HOST}:{node.ports["containerd-metrics"]}'

[plugins.'io.containerd.transfer.v1.local']
  config_path = '{node.folder / "certs.d"}'

[{images}]
  snapshotter = 'overlayfs'

[{images}.pinned_images]
  sandbox = '{pause_image}'

[{images}.registry]
  config_path = '{node.folder / "certs.d"}'

[{runtime}]
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE (this machine's root lacks it) no process may lower its OOM
  # score below 0, and runc fails the sandbox's -998: keep every score at containerd's own.
  restrict_oom_score_adj = true

[{runtime}.cni]
  bin_dirs = ['{CNI_PLUGINS}']
  conf_dir = '{node.folder / "cni"}'

[{runc}]
  runtime_type = 'io.containerd.runc.v2'

[{runc}.options]
  BinaryName = '{RUNC}'
  SystemdCgroup = false
"""
    (node.folder / "containerd.toml").write_text(text)


def _kubelet_config(node: LabNode, keys: pki.Pki, server: str) -> None:
    serving = keys.issue("kubelet-serving", tls.server(node.name, node.address, pki.HOST))
    client = keys.issue("kubelet-client", tls.client(f"system:node:{node.name}", "system:nodes"))
    pki.kubeconfig(node.folder / "kubelet.kubeconfig", server, keys.ca.certificate, client,
                   f"system:node:{node.name}")
    endpoint = f"unix://{node.socket}"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": node.address, "port": node.ports["kubelet"], "readOnlyPort": 0,
        "healthzBindAddress": pki.HOST, "healthzPort": node.ports["kubelet-health"],
        "tlsCertFile": str(serving.certificate), "tlsPrivateKeyFile": str(serving.key),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(keys.ca.certificate)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": endpoint, "imageServiceEndpoint": endpoint,
        # This machine has cgroup v1 (hybrid): kubelets after 1.34 refuse it unless told.
        "cgroupDriver": "cgroupfs", "failCgroupV1": False, "cgroupRoot": node.cgroup_root,
        "failSwapOn": False, "oomScoreAdj": 0, "podLogsDir": str(node.folder / "pod-logs"),
        "resolvConf": "/etc/resolv.conf", "clusterDomain": "cluster.local",
        # A shared CI machine's disk is often fuller than kubelet's defaults allow: evict and
        # collect images only when it is really out of room.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False, "registerNode": True,
        # A chain's function forwards the packets it steers through (charts/chain-function).
        "allowedUnsafeSysctls": ["net.ipv6.conf.all.forwarding"],
    }
    (node.folder / "kubelet.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def remove(node: LabNode) -> None:
    """Pods first (through the runtime, so CNI releases their addresses and namespaces),
    while containerd still runs; the caller then stops kubelet and containerd and calls
    `clean`."""
    if not node.socket.exists():
        return
    endpoint = f"unix://{node.socket}"
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run([str(node.crictl), "--runtime-endpoint", endpoint, "--image-endpoint",
                        endpoint, "--timeout", "30s", "rmp", "--all", "--force"],
                       capture_output=True, check=False, timeout=CRICTL_TIMEOUT)


def clean(node: LabNode) -> list[str]:
    """After kubelet and containerd stopped: end what is left in the node's cgroups (shims,
    containers), unmount under its folders, delete the bridge and the cgroups, remove the
    paths it made. Returns notes on what could not be removed."""
    notes = []
    _end_processes(node)
    for root in (node.folder, node.run_folder):
        _unmount_under(root)
    if Path(f"/sys/class/net/{node.bridge}").exists():
        run(["ip", "link", "del", node.bridge])
    for hierarchy in _hierarchies():
        notes += _remove_cgroup_tree(hierarchy / node.cgroup_root.lstrip("/"))
    with contextlib.suppress(OSError):
        subprocess.run(["rm", "-rf", str(node.run_folder)], check=False, timeout=60)
        node.run_folder.parent.rmdir()  # /run/tcra, when nothing else is in it
    for path in node.created_paths:
        _remove_made(path)
    return notes


def _end_processes(node: LabNode) -> None:
    """SIGKILL every process in the node's cgroups, and the shims containerd left (their
    command line names the node's containerd socket)."""
    pids: set[int] = set()
    for hierarchy in _hierarchies():
        root = hierarchy / node.cgroup_root.lstrip("/")
        for procs in root.rglob("cgroup.procs") if root.exists() else ():
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if str(node.socket).encode() in (proc / "cmdline").read_bytes() and \
                        b"containerd-shim" in (proc / "cmdline").read_bytes():
                    pids.add(int(proc.name))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def _unmount_under(root: Path) -> None:
    """Every mount below root, deepest first (overlay rootfs, shm, netns, pod volumes)."""
    for _ in range(3):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        below = sorted({m for m in mounts if m == str(root) or m.startswith(f"{root}/")},
                       key=len, reverse=True)
        if not below:
            return
        for mount in below:
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False, timeout=30)
    raise LabError(f"mounts under {root} are still there after three rounds of umount")


def _remove_cgroup_tree(root: Path) -> list[str]:
    if not root.exists():
        return []
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                       reverse=True):
        with contextlib.suppress(OSError):
            path.rmdir()
    try:
        root.rmdir()
    except OSError as error:
        return [f"left cgroup {root}: {error.strerror}"]
    return []


def _remove_made(path: Path) -> None:
    """A folder the node made: kubelet's and the shims' entries in it are the node's."""
    subprocess.run(["rm", "-rf", str(path)], check=False, timeout=60)

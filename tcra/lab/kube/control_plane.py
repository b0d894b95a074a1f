"""Start, check and stop the lab's management cluster.

Order: etcd, the API server, then what the API server must know before any controller runs
(Cluster API's CRDs and webhook configurations), then the controller manager, the scheduler and
the Cluster API managers (core, kubeadm bootstrap, kubeadm control plane, and CAPD, whose
in-memory backend plays the lab's machines). Every listener is on 127.0.0.1 with a port picked
at the first `up` and kept, so kubeconfigs stay valid; etcd's data is kept across a restart.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import yaml

from tcra.lab import tls
from tcra.lab.kube import charts, images, manifests, node, pki, registry
from tcra.lab.kube.binaries import Binaries
from tcra.lab.processes import LabError, alive, free_port, log_tail, start_ready, stop, wait_until
from tcra.lab.spec import CA_FILE, Component, LabKubernetes, LabNode
from tcra.model.base import Model
from tcra.model.fabric import PodNetwork

START_TIMEOUT = 120.0
PROBE_TIMEOUT = 3.0
KUBECTL_TIMEOUT = 120.0
MANAGERS = {  # the manager's name in tcra -> its program in the Cluster API folder
    "capi": "capi-manager",
    "kubeadm-bootstrap": "kubeadm-bootstrap-manager",
    "kubeadm-control-plane": "kubeadm-control-plane-manager",
    "capd": "capd-manager",
}
WEBHOOK_FILES = {"capi": "core.yaml"}  # the others are named after the manager
PORTS = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler",
         *(f"{m}-{use}" for m in MANAGERS for use in ("webhook", "health", "diagnostics")))
# CAPD's in-memory backend listens on fixed ports (no flags): 19000 for its debug server and
# 20000-30000 for the workload clusters' API servers. The lab's own ports come from elsewhere.
IN_MEMORY_DEBUG_PORT = 19000
NODE_READY_TIMEOUT = 90.0
CHARTS = Path(__file__).resolve().parents[3] / "blueprints" / "charts"  # pushed to the registry
Report = Callable[[str], None]


class Health(Model):
    name: str
    pid: int
    running: bool
    ready: bool
    rss_mib: float


def ensure(folder: Path, lab: str, binaries: Binaries, current: LabKubernetes | None,
           report: Report, saved: Callable[[LabKubernetes], None],
           pods: Mapping[str, PodNetwork | None]) -> LabKubernetes:
    """A running, ready management cluster: the current one when every component answers,
    otherwise (re)started on the same ports with the same data, with a node for each site of
    `pods` (site -> its pods' IPv6 network). `saved` hears of each component once started, so
    a failed `up` leaves nothing `down` does not know of."""
    if current and current.components and all(h.ready for h in health(current)):
        return current
    if current:
        stop_all(current)
    if _taken(IN_MEMORY_DEBUG_PORT):
        raise LabError(f"127.0.0.1:{IN_MEMORY_DEBUG_PORT} is taken, most likely by another"
                       " lab's Kubernetes: CAPD's in-memory backend has fixed ports, so one lab"
                       " per machine runs Kubernetes (take the other down, or use"
                       " --no-kubernetes)")
    ports = current.ports if current else {}
    ports = {name: ports.get(name) or free_port() for name in PORTS}
    cluster = LabKubernetes(folder=folder, ports=ports, kubeconfig=folder / "admin.kubeconfig",
                            registry=registry.ADDRESS)
    keys = pki.ensure(folder / "pki", lab)
    admin = keys.issue("admin", tls.client(pki.ADMIN, pki.MASTERS))  # also probes health
    started: list[Component] = []

    def record(component: Component) -> None:
        started.append(component)
        saved(cluster.model_copy(update={"components": tuple(started)}))

    report("kubernetes: etcd")
    record(_etcd(cluster, keys, binaries))
    report("kubernetes: kube-apiserver")
    record(_api_server(cluster, keys, binaries))
    pki.kubeconfig(cluster.kubeconfig, cluster.server, keys.ca.certificate, admin, pki.ADMIN)
    report("kubernetes: Cluster API CRDs and webhooks")
    _apply_definitions(cluster, keys, binaries)
    report("kubernetes: controller manager, scheduler, Cluster API managers")
    _controllers(cluster, keys, binaries, record)
    report(f"kubernetes: registry on {registry.ADDRESS}")
    record(registry.ensure(folder / "registry", keys))
    _trust(cluster, keys)
    images.ensure(folder / "images", keys.ca.certificate, report=report)
    charts.push_charts(sorted(p for p in CHARTS.iterdir() if (p / "Chart.yaml").exists()),
                       ca=keys.ca.certificate, helm_bin=binaries.helm, folder=folder / "helm",
                       report=report)
    had = {n.site: n for n in current.nodes} if current else {}
    for index, (site, network) in enumerate(pods.items()):
        report(f"kubernetes: site {site}'s node (containerd, kubelet, CNI bridge)")
        planned = node.plan(folder / "nodes", lab, binaries.node, site, index, had.get(site),
                            network)
        cluster = cluster.model_copy(update={"nodes": (*cluster.nodes, planned)})
        saved(cluster.model_copy(update={"components": tuple(started)}))  # down cleans it
        made = node.prepare(planned, keys, cluster.server, registry.ADDRESS, images.PAUSE_IMAGE)
        cluster = cluster.model_copy(update={"nodes": (*cluster.nodes[:-1], made)})
        _node(cluster, made, keys, binaries, record)
    return cluster.model_copy(update={"components": tuple(started)})


def _etcd(cluster: LabKubernetes, keys: pki.Pki, binaries: Binaries) -> Component:
    serving = keys.issue("etcd", tls.server("etcd", pki.HOST, dns_names=("localhost",)))
    client = f"https://{pki.HOST}:{cluster.ports['etcd']}"
    peer = f"http://{pki.HOST}:{cluster.ports['etcd-peer']}"  # one member: no peer traffic
    argv = [str(binaries.etcd / "etcd"), "--name", "tcra-lab",
            "--data-dir", str(cluster.folder / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"tcra-lab={peer}",
            "--cert-file", str(serving.certificate), "--key-file", str(serving.key),
            "--client-cert-auth", "--trusted-ca-file", str(keys.ca.certificate)]
    return _run(cluster, "etcd", argv, f"{client}/health", keys)


def _api_server(cluster: LabKubernetes, keys: pki.Pki, binaries: Binaries) -> Component:
    serving = keys.issue("apiserver", pki.api_server_leaf())
    to_etcd = keys.issue("apiserver-etcd-client", tls.client("kube-apiserver-etcd-client"))
    to_kubelet = keys.issue("apiserver-kubelet-client",
                            tls.client("kube-apiserver-kubelet-client", pki.MASTERS))
    argv = [str(binaries.kubernetes / "kube-apiserver"),
            "--bind-address", pki.HOST, "--advertise-address", pki.HOST,
            "--secure-port", str(cluster.ports["apiserver"]),
            "--etcd-servers", f"https://{pki.HOST}:{cluster.ports['etcd']}",
            "--etcd-cafile", str(keys.ca.certificate),
            "--etcd-certfile", str(to_etcd.certificate), "--etcd-keyfile", str(to_etcd.key),
            "--tls-cert-file", str(serving.certificate),
            "--tls-private-key-file", str(serving.key),
            "--client-ca-file", str(keys.ca.certificate),
            "--authorization-mode", "Node,RBAC",
            "--service-cluster-ip-range", pki.SERVICE_CIDR,
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(keys.service_account_public),
            "--service-account-signing-key-file", str(keys.service_account_key),
            # The API server advertises 127.0.0.1, which the `kubernetes` Service may not point
            # at: nothing in the lab reaches it through that Service.
            "--endpoint-reconciler-type", "none",
            # logs, exec and port-forward reach the node's kubelet at its address (the node's
            # name resolves nowhere), verified against the lab's CA, as kubeadm sets it up.
            "--kubelet-preferred-address-types", "InternalIP",
            "--kubelet-certificate-authority", str(keys.ca.certificate),
            "--kubelet-client-certificate", str(to_kubelet.certificate),
            "--kubelet-client-key", str(to_kubelet.key),
            "--allow-privileged", "--profiling=false"]
    return _run(cluster, "kube-apiserver", argv, f"{cluster.server}/readyz", keys)


def _apply_definitions(cluster: LabKubernetes, keys: pki.Pki, binaries: Binaries) -> None:
    """CRDs (established before anything uses them) and the webhook configurations."""
    ca_bundle = keys.ca.certificate.read_bytes()
    webhook_ports = {m: cluster.ports[f"{m}-webhook"] for m in MANAGERS}
    objects = manifests.crds(binaries.crds, webhook_ports, ca_bundle)
    for manager, port in webhook_ports.items():
        source = binaries.webhooks / WEBHOOK_FILES.get(manager, f"{manager}.yaml")
        objects += manifests.webhooks(source, manager, port, ca_bundle)
    bundle = cluster.folder / "definitions.yaml"
    bundle.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    kubectl(cluster, binaries, "apply", "--server-side", "--force-conflicts",
            "--field-manager", "tcra-lab", "-f", str(bundle))
    kubectl(cluster, binaries, "wait", "--for", "condition=Established", "crd", "--all",
            "--timeout", "60s")


def _controllers(cluster: LabKubernetes, keys: pki.Pki, binaries: Binaries,
                 record: Callable[[Component], None]) -> None:
    for name in ("kube-controller-manager", "kube-scheduler"):
        user = f"system:{name}"
        config = _client_kubeconfig(cluster, keys, name, user, ())
        serving = keys.issue(f"{name}-serving", tls.server(name, pki.HOST))
        port = cluster.ports["controller-manager" if name == "kube-controller-manager"
                             else "scheduler"]
        argv = [str(binaries.kubernetes / name), "--kubeconfig", str(config),
                "--authentication-kubeconfig", str(config),
                "--authorization-kubeconfig", str(config),
                "--bind-address", pki.HOST, "--secure-port", str(port),
                "--tls-cert-file", str(serving.certificate),
                "--tls-private-key-file", str(serving.key), "--leader-elect=false"]
        if name == "kube-controller-manager":
            argv += ["--cluster-signing-cert-file", str(keys.ca.certificate),
                     "--cluster-signing-key-file", str(keys.ca.key),
                     "--root-ca-file", str(keys.ca.certificate),
                     "--service-account-private-key-file", str(keys.service_account_key),
                     "--use-service-account-credentials",
                     "--service-cluster-ip-range", pki.SERVICE_CIDR]
        record(_run(cluster, name, argv, f"https://{pki.HOST}:{port}/healthz", keys))
    for manager, program in MANAGERS.items():
        record(_manager(cluster, keys, binaries, manager, program))


def _trust(cluster: LabKubernetes, keys: pki.Pki) -> None:
    """The CA alone in a folder, for SSL_CERT_DIR (Go reads every file there; OpenSSL looks
    files up by subject hash, hence the link)."""
    cluster.trust.mkdir(parents=True, exist_ok=True)
    target = cluster.trust / CA_FILE
    target.write_bytes(keys.ca.certificate.read_bytes())
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(target)],
                                  capture_output=True, text=True, check=True,
                                  timeout=10).stdout.strip()
    link = cluster.trust / f"{subject_hash}.0"
    link.unlink(missing_ok=True)
    link.symlink_to(CA_FILE)


def _node(cluster: LabKubernetes, lab_node: LabNode, keys: pki.Pki, binaries: Binaries,
          record: Callable[[Component], None]) -> None:
    """containerd, then kubelet, then wait for the Node to be Ready (its CNI configured)."""
    record(_run(cluster, node.containerd_name(lab_node),
                node.containerd_argv(lab_node, binaries.node),
                node.containerd_health(lab_node), keys))
    record(_run(cluster, node.kubelet_name(lab_node),
                node.kubelet_argv(lab_node, binaries.kubernetes),
                node.kubelet_health(lab_node), keys))
    registered = wait_until(lambda: bool(kubectl(
        cluster, binaries, "get", "nodes", "--field-selector", f"metadata.name={lab_node.name}",
        "-o", "name")), NODE_READY_TIMEOUT, interval=1.0)
    if not registered:
        log = cluster.folder / "logs" / f"{node.kubelet_name(lab_node)}.log"
        raise LabError(f"kubelet did not register node {lab_node.name} within"
                       f" {NODE_READY_TIMEOUT:.0f}s:\n{log_tail(log)}")
    kubectl(cluster, binaries, "wait", "--for", "condition=Ready", f"node/{lab_node.name}",
            f"--timeout={NODE_READY_TIMEOUT:.0f}s")


def _manager(cluster: LabKubernetes, keys: pki.Pki, binaries: Binaries, manager: str,
             program: str) -> Component:
    """A Cluster API manager under its own user name. It is in system:masters: upstream binds
    each to a ClusterRole as wide as its CRDs, and the lab keeps that out of its bootstrap."""
    config = _client_kubeconfig(cluster, keys, manager, f"tcra-lab:{manager}", (pki.MASTERS,))
    certs = cluster.folder / "webhook" / manager
    certs.mkdir(parents=True, exist_ok=True)
    keys.issue(f"{manager}-webhook", tls.server(f"{manager} webhook", pki.HOST))
    for source, target in ((f"{manager}-webhook.pem", "tls.crt"),
                           (f"{manager}-webhook.key", "tls.key")):
        link = certs / target
        link.unlink(missing_ok=True)
        link.symlink_to(keys.folder / source)
    health = f"{pki.HOST}:{cluster.ports[f'{manager}-health']}"
    argv = [str(binaries.cluster_api / program), "--kubeconfig", str(config),
            "--webhook-port", str(cluster.ports[f"{manager}-webhook"]),
            "--webhook-cert-dir", str(certs), "--health-addr", health,
            "--diagnostics-address", f"{pki.HOST}:{cluster.ports[f'{manager}-diagnostics']}",
            "--insecure-diagnostics", "--leader-elect=false"]
    # CAPD's in-memory backend serves each workload cluster's API at POD_IP (the build patches
    # its listeners to that address, 127.0.0.1 when unset) and writes it as the endpoint.
    env = {"POD_IP": pki.HOST} if manager == "capd" else None
    return _run(cluster, manager, argv, f"http://{health}/readyz", keys, env)


def _client_kubeconfig(cluster: LabKubernetes, keys: pki.Pki, name: str, user: str,
                       groups: Sequence[str]) -> Path:
    pair = keys.issue(f"{name}-client", tls.client(user, *groups))
    return pki.kubeconfig(cluster.folder / f"{name}.kubeconfig", cluster.server,
                          keys.ca.certificate, pair, user)


def _run(cluster: LabKubernetes, name: str, argv: list[str], health_url: str,
         keys: pki.Pki, env: dict[str, str] | None = None) -> Component:
    process = start_ready(name, argv, cluster.folder / "logs" / f"{name}.log",
                          lambda: _probe(health_url, keys), START_TIMEOUT, health_url, env=env)
    return Component(name=name, process=process, health=health_url)


def _ready(component: Component, keys: pki.Pki) -> bool:
    return _probe(component.health, keys)


def _probe(health: str, keys: pki.Pki) -> bool:
    """The health URL answers 200, over TLS verified against the lab's CA with the admin's
    certificate (etcd and the API server ask for one)."""
    context = ssl.create_default_context(cafile=str(keys.ca.certificate))
    admin = keys.pair("admin")
    context.load_cert_chain(admin.certificate, admin.key)
    try:
        with urllib.request.urlopen(health, timeout=PROBE_TIMEOUT,  # noqa: S310
                                    context=context) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def health(cluster: LabKubernetes) -> list[Health]:
    keys = pki.existing(cluster.folder / "pki")
    out = []
    for component in cluster.components:
        running = alive(component.process)
        out.append(Health(name=component.name, pid=component.process.pid, running=running,
                          ready=running and _ready(component, keys),
                          rss_mib=_rss_mib(component.process.pid) if running else 0.0))
    return out


def rss_mib(cluster: LabKubernetes) -> float:
    """The RSS of all the cluster's running components, read from /proc without asking them."""
    return sum(_rss_mib(c.process.pid) for c in cluster.components if alive(c.process))


def _rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    return kib / 1024


def kubectl(cluster: LabKubernetes, binaries: Binaries, *args: str) -> str:
    # Its discovery cache in the lab's folder, not the user's ~/.kube.
    done = subprocess.run([binaries.kubectl(), "--kubeconfig", str(cluster.kubeconfig),
                           "--request-timeout", "60s", "--cache-dir",
                           str(cluster.folder / "kubectl-cache"), *args], capture_output=True,
                          text=True, check=False, timeout=KUBECTL_TIMEOUT)
    if done.returncode != 0:
        raise LabError(f"kubectl {args[0]}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def stop_all(cluster: LabKubernetes) -> list[str]:
    """Each node's kubelet first and its pods (through containerd, still running), managers
    next, etcd last: nothing writes to a store that is gone. The nodes are cleaned once all
    are stopped (they share FIXED_PATHS). Returns notes on what a node could not remove."""
    runtimes = {node.containerd_name(n): n for n in cluster.nodes}
    for component in reversed(cluster.components):
        if component.name in runtimes:
            node.remove(runtimes[component.name])
        stop(component.process)
    return [note for n in cluster.nodes for note in node.clean(n)]


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((pki.HOST, port)) == 0

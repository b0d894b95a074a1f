"""The lab: a whole telco cloud on one machine with real protocol peers.

`up` is convergent (running it twice changes nothing), `down` removes exactly what the lab
made, says what it left, and is safe to repeat. State is saved after every step, so `down` also
cleans up after an `up` that failed half-way. One lab command runs at a time on a machine
(`tcra.lab.lock`): a second one waits, up to `wait` seconds, then refuses naming the holder.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable

from pydantic import Field

from tcra.lab import (
    bmc,
    fabric,
    hugepages,
    hypervisor,
    impair,
    inventory_writer,
    lock,
    monitor,
    nodes,
    vip,
)
from tcra.lab.fabric_state import FabricState
from tcra.lab.kube import binaries as kube_binaries
from tcra.lab.kube import control_plane
from tcra.lab.processes import LabError, alive, stop
from tcra.lab.spec import LabKubernetes, LabSpec, LabState, Node, load_state
from tcra.model.base import Model
from tcra.model.fabric import PodNetwork

__all__ = ["WAIT", "LabError", "LabSpec", "LabStatus", "down", "status", "up"]

Report = Callable[[str], None]
WAIT = 300.0  # seconds a lab command waits for another one; an `up` takes about 10


class NodeStatus(Model):
    name: str
    site: str
    uuid: str
    power: str


class LabStatus(Model):
    name: str
    state_dir: str
    running: bool
    libvirt_uri: str | None = None
    bmc_url: str | None = None
    bmc_answers: bool = False
    inventory: str | None = None
    nodes: tuple[NodeStatus, ...] = Field(default=())
    fabric: FabricState | None = None
    kubernetes: str | None = Field(default=None, description="The management cluster's API.")
    kubernetes_components: tuple[control_plane.Health, ...] = Field(default=())
    prometheus: str | None = None
    alertmanager: str | None = None
    sense: str | None = Field(default=None, description="Where Prometheus scrapes tcra"
                              " (`tcra sense serve --lab`).")


def up(spec: LabSpec, report: Report = lambda _msg: None, wait: float = WAIT,
       waiting: Report | None = None) -> LabState:
    """Bring the lab up (or converge it); `waiting` hears that another lab command runs."""
    with lock.held(spec.name, "up", wait, waiting or report):
        return _up(spec, report)


def _up(spec: LabSpec, report: Report) -> LabState:
    state = load_state(spec) or LabState(spec=spec)
    state = state.model_copy(update={"spec": spec})
    state.save()

    report(f"hugepages: {spec.hugepages} of 2 MiB")  # before libvirtd, which looks for hugetlbfs
    state = state.model_copy(update={"hugepages": hugepages.reserve(spec.hugepages,
                                                                    state.hugepages,
                                                                    spec.state_dir)})
    state.save()

    report("hypervisor: libvirtd")
    state = state.model_copy(update={"hypervisor": hypervisor.ensure(spec, state.hypervisor)})
    state.save()

    report(f"nodes: {spec.nodes} virtual bare-metal node(s)")
    previous_nodes = state.nodes
    with hypervisor.session(spec.libvirt_uri) as conn:
        nodes.ensure_pool(conn, spec)
        vip.ensure_network(conn, spec)
        vip.ensure_base_image(conn, spec)
        state = state.model_copy(update={"nodes": nodes.converge(conn, spec)})
    state.save()

    report("BMC: Redfish emulator")
    state = _serve_bmc(state, previous_nodes)
    report("fabric: HBRs, workloads and users in network namespaces")
    built = fabric.build(spec)
    state = state.model_copy(update={"fabric": built})
    state.save()

    if spec.kubernetes:
        state = _serve_kubernetes(state, report,
                                  pods={h.name: h.pods for h in built.fabric.hbrs if h.pods})
        assert state.kubernetes is not None  # noqa: S101
        for node in state.kubernetes.nodes:
            report(f"fabric: site {node.site}'s HBR on its node's bridge")
            fabric.attach_pods(built, node)
    elif state.kubernetes:
        report("kubernetes: stopping it (--no-kubernetes)")
        state, _ = _remove_kubernetes(state)

    report("monitoring: Prometheus and Alertmanager")
    state = state.model_copy(update={"monitor": monitor.ensure(spec, state.monitor)})
    state.save()

    assert state.bmc is not None  # noqa: S101 - set just above; narrows the type
    assert state.fabric is not None  # noqa: S101
    assert state.hugepages is not None  # noqa: S101
    report(f"inventory: {spec.inventory}")
    written = inventory_writer.write(spec, state.bmc, state.nodes, state.fabric, state.hugepages,
                                     state.kubernetes)
    state = state.model_copy(update={"inventory": written})
    state.save()
    return state


def _serve_bmc(state: LabState, previous_nodes: tuple[Node, ...]) -> LabState:
    """Keep a running emulator that serves these nodes; otherwise (re)start it on the same port."""
    current = state.bmc
    if current and alive(current.process):
        same_port = state.spec.bmc_port in (0, current.port)
        if same_port and previous_nodes == state.nodes and current.ca_bundle:  # else HTTP
            return state
        stop(current.process)
    port = state.spec.bmc_port or (current.port if current else 0)
    state = state.model_copy(update={"bmc": None})
    state.save()
    state = state.model_copy(update={"bmc": bmc.serve(state.spec, state.nodes, port)})
    state.save()
    return state


def _serve_kubernetes(state: LabState, report: Report,
                      pods: dict[str, PodNetwork | None]) -> LabState:
    report("kubernetes: finding its programs (built from Go modules once: long when cold)")
    programs = kube_binaries.find()
    running = control_plane.ensure(state.spec.state_dir / "kubernetes", state.spec.name,
                                   programs, state.kubernetes, report,
                                   saved=lambda partial: _save_kubernetes(state, partial),
                                   pods=pods)
    state = state.model_copy(update={"kubernetes": running})
    state.save()
    return state


def _save_kubernetes(state: LabState, partial: LabKubernetes) -> None:
    """Record each component as it starts, so `down` stops it even if `up` fails later."""
    state.model_copy(update={"kubernetes": partial}).save()


def _remove_kubernetes(state: LabState) -> tuple[LabState, list[str]]:
    notes = []
    if state.kubernetes:
        notes = control_plane.stop_all(state.kubernetes)
        shutil.rmtree(state.kubernetes.folder, ignore_errors=True)
    state = state.model_copy(update={"kubernetes": None})
    state.save()
    return state, notes


def status(spec: LabSpec) -> LabStatus:
    state = load_state(spec)
    if state is None:
        return LabStatus(name=spec.name, state_dir=str(spec.state_dir), running=False)
    power = {node.name: "unknown" for node in state.nodes}
    if state.hypervisor and hypervisor.answers(state.hypervisor.uri):
        with hypervisor.session(state.hypervisor.uri) as conn:
            power = {node.name: nodes.power_state(conn, node.name) for node in state.nodes}
    bmc_answers = bool(state.bmc and alive(state.bmc.process)
                       and bmc.answers(state.bmc, bmc.read_password(state.spec)))
    return LabStatus(
        name=spec.name, state_dir=str(spec.state_dir), running=bmc_answers,
        libvirt_uri=state.hypervisor.uri if state.hypervisor else None,
        bmc_url=state.bmc.url if state.bmc else None, bmc_answers=bmc_answers,
        inventory=str(state.inventory) if state.inventory else None, fabric=state.fabric,
        kubernetes=state.kubernetes.server if state.kubernetes else None,
        kubernetes_components=tuple(control_plane.health(state.kubernetes))
        if state.kubernetes else (),
        prometheus=state.monitor.prometheus_url if state.monitor else None,
        alertmanager=state.monitor.alertmanager_url if state.monitor else None,
        sense=f"127.0.0.1:{state.monitor.sense_port}" if state.monitor else None,
        nodes=tuple(NodeStatus(name=n.name, site=n.site, uuid=n.uuid, power=power[n.name])
                    for n in state.nodes),
    )


def down(spec: LabSpec, report: Report = lambda _msg: None, wait: float = WAIT,
         waiting: Report | None = None) -> list[str]:
    """Remove all the lab made; returns one note per thing found and deliberately left."""
    with lock.held(spec.name, "down", wait, waiting or report):
        return _down(spec, report)


def _down(spec: LabSpec, report: Report) -> list[str]:
    state = load_state(spec)
    if state is None:
        report("nothing to remove")
        return []
    notes: list[str] = []
    if state.kubernetes:
        report("kubernetes: stopping the management cluster and its node")
        state, notes = _remove_kubernetes(state)
    if state.monitor:
        report("monitoring: stopping Prometheus and Alertmanager")
        monitor.stop_all(state.monitor)
    if impair.impairments(spec):
        report("fabric: repairing its impaired links")
        impair.repair(spec)
    if state.bmc:
        report("BMC: stopping the Redfish emulator")
        stop(state.bmc.process)
    report("fabric: removing its namespaces")
    notes += [f"left namespace {name}: the lab did not make it"
              for name in fabric.remove(state.spec)]
    if state.hypervisor and hypervisor.answers(state.hypervisor.uri):
        report("nodes: removing")
        with hypervisor.session(state.hypervisor.uri) as conn:
            named = set(nodes.lab_domains(conn, state.spec))
            for name in {n.name for n in state.nodes} | {
                    d for d in named if nodes.is_node(state.spec, d)}:
                nodes.remove(conn, name)
            notes += [f"left domain {name}: the lab did not make it"
                      for name in sorted(named) if not nodes.is_node(state.spec, name)]
            vip.remove_network(conn, state.spec)
            nodes.remove_pool(conn, state.spec)
    vip.remove_bridge(state.spec)
    if state.hypervisor:
        report("hypervisor: stopping what the lab started")
        if (note := hypervisor.release(state.hypervisor)) is not None:
            notes.append(note)
    if state.hugepages:
        report("hugepages: giving them back")
        notes += hugepages.release(state.hugepages, spec.state_dir)
    if state.inventory:
        report(f"inventory: removing {state.inventory}")
        inventory_writer.remove(state.inventory)
    shutil.rmtree(spec.state_dir, ignore_errors=True)
    for parent in (spec.state_root, spec.state_root.parent):  # only when the lab left them empty
        with contextlib.suppress(OSError):
            parent.rmdir()
    return notes

"""tcra's metrics in Prometheus format: per site its capacity, what is used and what is free;
per workload its site, budgets and state; per tenant what its workloads have cost
and emitted so far; per host and VM its power; per probed path its round trip and loss.

Every peer (the store, each BMC, each hypervisor, each probe) is read in the background, so a
scrape costs the same whether or not a peer answers: a scrape formats the latest readings, and
`tcra_sense_peer_up` and `tcra_sense_peer_age_seconds` say which figures are stale and how."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import libvirt
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tcra.bmc import power_states
from tcra.errors import TcraError
from tcra.mco.model import Capacity, Running, Usage
from tcra.mco.repository import free_capacity, site_capacity
from tcra.mco.store import Store
from tcra.model import Inventory
from tcra.model.base import Model
from tcra.sense.probe import Prober, ProbeResult, ProbeTarget
from tcra.vip.libvirt_host import VipError, connection

TIMEOUT = 5.0  # seconds for one libvirt connection
RESOURCES: dict[str, Callable[[Capacity], float]] = {
    "cpu_cores": lambda c: c.cpu,
    "memory_bytes": lambda c: c.memory.bytes,
    "hugepages_bytes": lambda c: c.hugepages.bytes,
    "gpus": lambda c: c.gpus,
    "sriov_vfs": lambda c: c.sriov_vfs,
    "hosts": lambda c: c.hosts,
}


class SiteReading(Model):
    site: str
    capacity: Capacity
    free: Capacity


class VmReading(Model):
    hypervisor: str
    vm: str
    running: bool
    cpu_seconds: float


class Reading(Model):
    """What the store says at one moment: each site's room, every placed workload, and per
    tenant the cost and carbon of the runs that ended."""

    sites: tuple[SiteReading, ...]
    running: tuple[Running, ...]
    ended: dict[str, tuple[float, float]]


def read(inventory: Inventory, capacity: dict[str, Capacity], store: Store) -> Reading:
    """The repository (TCRR) and the workload inventory (TCWI) as they are now; `capacity`
    is the inventory's per site (site_capacity), which does not change between readings."""
    running = store.running()
    free = free_capacity(inventory, Usage(placements=tuple(r.placement for r in running),
                                          hosts=store.held()))
    return Reading(sites=tuple(SiteReading(site=s.site.id, capacity=capacity[s.site.id],
                                           free=s.free) for s in free),
                   running=running, ended=store.ended())


class Sensor(Collector):
    """The peers' latest readings, refreshed every `every` seconds by a thread of its own,
    and the probes' from `prober`; registered in a CollectorRegistry, it is what a scrape
    reads."""

    def __init__(self, inventory: Inventory, store: Store, prober: Prober | None = None,
                 every: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self._inventory = inventory
        self._capacity = site_capacity(inventory)
        self._store = store
        self._prober = prober
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._power: dict[tuple[str, str], bool] = {}
        self._vms: dict[tuple[str, str], VmReading] = {}
        self._peers: dict[str, tuple[bool, float | None]] = {}  # peer: (up, last good read)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tcra-sensor", daemon=True)

    def start(self) -> Sensor:
        self.refresh()
        self._thread.start()
        if self._prober is not None:
            self._prober.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT * 3)
        if self._prober is not None:
            self._prober.stop()

    def refresh(self) -> None:
        """Read every peer once; one that fails keeps its last figures, marked stale."""
        self.read_store()
        self.read_power()

    def read_store(self) -> None:
        """The repository's and the workload inventory's figures."""
        try:
            reading = read(self._inventory, self._capacity, self._store)
        except TcraError:
            self._mark("store", False)
        else:
            with self._lock:
                self._reading = reading
            self._mark("store", True)

    def read_power(self) -> None:
        """Each host's power from its BMC, each VM's state and CPU time from libvirt."""
        for power in power_states(self._inventory.hosts):
            peer = f"bmc {power.host}"
            if power.error is not None or power.power is None:
                self._mark(peer, False)
                continue
            with self._lock:
                self._power[(power.site, power.host)] = power.power == "On"
            self._mark(peer, True)
        for hypervisor in self._inventory.hypervisors:
            peer = f"libvirt {hypervisor.name}"
            try:
                vms = _domains(hypervisor.name, hypervisor.libvirt_uri)
            except VipError:
                self._mark(peer, False)
                continue
            with self._lock:
                for key in [k for k in self._vms if k[0] == hypervisor.name]:
                    del self._vms[key]
                self._vms.update({(v.hypervisor, v.vm): v for v in vms})
            self._mark(peer, True)

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        with self._lock:
            reading, power, vms = self._reading, dict(self._power), list(self._vms.values())
            peers = dict(self._peers)
        if reading is not None:
            yield from _sites(reading)
            yield from _workloads(reading, now)
        yield from _power(power, vms)
        if self._prober is not None:
            results = self._prober.results()
            yield from _probes({t: r for t, r in results.items() if isinstance(r, ProbeResult)})
            for target, result in results.items():
                good = isinstance(result, ProbeResult)
                peers[f"probe {target.service}/{target.workload}"] = (
                    good, result.at if isinstance(result, ProbeResult) else None)
        up = GaugeMetricFamily("tcra_sense_peer_up", "1 if the peer's last reading succeeded;"
                               " 0 if it failed and its figures are stale.", labels=["peer"])
        age = GaugeMetricFamily("tcra_sense_peer_age_seconds", "Seconds since the peer's last"
                                " good reading.", labels=["peer"])
        for peer, (good, last) in sorted(peers.items()):
            up.add_metric([peer], float(good))
            if last is not None:
                age.add_metric([peer], now - last)
        yield up
        yield age

    def _mark(self, peer: str, good: bool) -> None:
        with self._lock:
            last = self._clock() if good else self._peers.get(peer, (False, None))[1]
            self._peers[peer] = (good, last)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.refresh()


def _domains(hypervisor: str, uri: str) -> list[VmReading]:
    with connection(hypervisor, uri, TIMEOUT, read_only=True) as conn:
        return [VmReading(hypervisor=hypervisor, vm=domain.name(),
                          running=state == libvirt.VIR_DOMAIN_RUNNING, cpu_seconds=cpu / 1e9)
                for domain in conn.listAllDomains()
                for state, _max, _mem, _vcpus, cpu in [domain.info()]]


def _sites(reading: Reading) -> Iterator[Metric]:
    families = {name: GaugeMetricFamily(f"tcra_site_{name}", text, labels=["site", "resource"])
                for name, text in (("capacity", "What the site's hosts have."),
                                   ("used", "What the workload inventory takes of it."),
                                   ("free", "What is left for new placements."))}
    for site in reading.sites:
        for resource, amount in RESOURCES.items():
            have, free = amount(site.capacity), amount(site.free)
            families["capacity"].add_metric([site.site, resource], have)
            families["used"].add_metric([site.site, resource], max(0.0, have - free))
            families["free"].add_metric([site.site, resource], free)
    yield from families.values()


def _workloads(reading: Reading, now: float) -> Iterator[Metric]:
    keys = ["service", "workload"]
    info = GaugeMetricFamily("tcra_workload_info", "A placed workload: where, for whom, and"
                             " its state (deployed: what was made for it is in the workload"
                             " inventory; placed: only planned).",
                             labels=[*keys, "tenant", "site", "kind", "cluster", "state"])
    budget = GaugeMetricFamily("tcra_workload_latency_budget_ms", "Its round-trip budget to"
                               " an area of its users.", labels=[*keys, "area"])
    cost: dict[str, float] = defaultdict(float, {t: c for t, (c, _) in reading.ended.items()})
    carbon: dict[str, float] = defaultdict(float, {t: g for t, (_, g) in reading.ended.items()})
    for run in reading.running:
        p = run.placement
        key = [p.service, p.workload]
        info.add_metric([*key, run.tenant, p.site, p.kind.value, p.cluster or "",
                         "deployed" if run.deployed else "placed"], 1)
        for b in p.latency:
            budget.add_metric([*key, b.area], b.max_ms)
        if run.since is not None:
            hours = max(0.0, now - run.since) / 3600
            cost[run.tenant] += p.cost_per_hour * hours
            carbon[run.tenant] += p.carbon_per_hour * hours
    yield info
    yield budget
    accrued = CounterMetricFamily("tcra_tenant_cost_eur", "What the tenant's workloads have"
                                  " cost: each run's estimate x its time, ended runs"
                                  " included.", labels=["tenant"])
    emitted = CounterMetricFamily("tcra_tenant_carbon_grams", "What they have emitted, gCO2:"
                                  " each run's estimate x its time.", labels=["tenant"])
    for tenant in sorted(cost):
        accrued.add_metric([tenant], cost[tenant])
        emitted.add_metric([tenant], carbon[tenant])
    yield accrued
    yield emitted


def _power(power: dict[tuple[str, str], bool], vms: list[VmReading]) -> Iterator[Metric]:
    hosts = GaugeMetricFamily("tcra_host_powered_on", "1 if the host's BMC reports it on.",
                              labels=["site", "host"])
    for (site, host), on in sorted(power.items()):
        hosts.add_metric([site, host], float(on))
    running = GaugeMetricFamily("tcra_vm_running", "1 if libvirt reports the domain running.",
                                labels=["hypervisor", "vm"])
    cpu = GaugeMetricFamily("tcra_vm_cpu_seconds", "CPU time the domain has used, as libvirt"
                            " counts it.", labels=["hypervisor", "vm"])
    for vm in sorted(vms, key=lambda v: (v.hypervisor, v.vm)):
        running.add_metric([vm.hypervisor, vm.vm], float(vm.running))
        cpu.add_metric([vm.hypervisor, vm.vm], vm.cpu_seconds)
    yield from (hosts, running, cpu)


def _probes(results: dict[ProbeTarget, ProbeResult]) -> Iterator[Metric]:
    keys = ["service", "workload"]
    rtt = GaugeMetricFamily("tcra_probe_rtt_ms", "Average round trip of the last probe from"
                            " the users through the chain to the workload.", labels=keys)
    loss = GaugeMetricFamily("tcra_probe_loss_ratio", "Share of the last probe's pings lost.",
                             labels=keys)
    for target, result in results.items():
        key = [target.service, target.workload]
        if result.rtt_ms is not None:
            rtt.add_metric(key, result.rtt_ms)
        loss.add_metric(key, result.loss)
    yield rtt
    yield loss

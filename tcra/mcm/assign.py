"""Which Metal3 machines the control plane and each node pool get: by name, or by capability
from those left over, plus spares for rollouts that add a machine before they remove one.
In-memory machines are simulated: nothing to assign."""

from __future__ import annotations

from dataclasses import dataclass

from tcra.capi.metal3 import Image
from tcra.errors import Problem
from tcra.mcm.infrastructure import Metal3Infrastructure
from tcra.mcm.machines import Machine
from tcra.mcm.naming import CONTROL_PLANE
from tcra.mcm.spec import ControlPlane, K8sClusterSpec, NodeFeatures, NodePool
from tcra.model.host_filter import HostFilter


@dataclass(frozen=True)
class Group:
    """The control plane or one node pool, with the Metal3 machines it was given and the image
    they get; both None on in-memory infrastructure."""

    key: str
    field: str
    replicas: int
    surge: int
    features: NodeFeatures
    image: Image | None
    machines: tuple[Machine, ...] | None

    @property
    def simulated(self) -> bool:
        """In-memory: no host, no cloud-init metadata, nothing to roll onto."""
        return self.machines is None

    @property
    def short_of_spares(self) -> str | None:
        """Why a rolling upgrade of this group would wait, if it would."""
        if self.machines is None or len(self.machines) >= self.replicas + self.surge:
            return None
        return (f"{self.field}: {self.replicas} replicas with max_surge {self.surge} need"
                f" {self.replicas + self.surge} machines and have {len(self.machines)}; a"
                " rolling upgrade will wait for a free machine")


def groups_of(args: K8sClusterSpec) -> list[tuple[str, str, ControlPlane | NodePool]]:
    """(key, field path, settings) of the control plane and each pool, in declaration order."""
    cp: list[tuple[str, str, ControlPlane | NodePool]] = [
        (CONTROL_PLANE, "control_plane", args.control_plane)]
    return cp + [(pool.name, f"pools.{i}", pool) for i, pool in enumerate(args.pools)]


def assign(args: K8sClusterSpec, where: str) -> tuple[list[Group], list[Problem]]:
    """Named machines first, then each group without names takes, in declaration order, the
    first free machines by name that its filter accepts: its replicas, and as many spares as
    its rollout adds before it removes. Same arguments, same machines."""
    groups = groups_of(args)
    infrastructure = args.infrastructure
    if not isinstance(infrastructure, Metal3Infrastructure):
        return [Group(key, field, settings.replicas, _surge(settings), settings.features, None,
                      None) for key, field, settings in groups], []
    machines = infrastructure.machines
    by_name = {m.name: m for m in machines}
    owner: dict[str, str] = {}
    chosen: dict[str, list[Machine]] = {}
    problems: list[Problem] = []
    for key, field, settings in groups:
        chosen[key] = []
        for name in settings.machines:
            if name not in by_name:
                problems.append(Problem(where, f"{field}.machines", "expected the name of one of"
                                        f" the cluster's machines ({', '.join(sorted(by_name))})",
                                        name))
            elif name in owner:
                problems.append(Problem(where, f"{field}.machines", f"expected a machine no"
                                        f" other group has; {owner[name]} has it", name))
            else:
                owner[name] = key
                chosen[key].append(by_name[name])
        if settings.machines and len(settings.machines) < settings.replicas:
            problems.append(Problem(where, f"{field}.replicas", f"expected at most as many"
                                    f" replicas as machines listed ({len(settings.machines)})",
                                    settings.replicas))
    surge = {key: _surge(settings) for key, _, settings in groups}
    automatic = [(key, field, settings) for key, field, settings in groups
                 if not settings.machines]

    def free(settings: ControlPlane | NodePool) -> list[Machine]:
        wanted = settings.select or HostFilter()
        return sorted((m for m in machines if m.name not in owner
                       and _accepts(wanted, m)), key=lambda m: m.name)

    def take(key: str, machines: list[Machine]) -> None:
        for machine in machines:
            owner[machine.name] = key
            chosen[key].append(machine)

    for key, field, settings in automatic:
        candidates = free(settings)
        if len(candidates) < settings.replicas:
            wanted = (settings.select or HostFilter()).model_dump(mode="json",
                                                                  exclude_defaults=True)
            problems.append(Problem(where, f"{field}.replicas", f"expected at most"
                                    f" {len(candidates)}: that many free machines match"
                                    f" {wanted}", settings.replicas))
        take(key, candidates[:settings.replicas])
    # Then spares, for rollouts that add a machine before they remove one, where any are left.
    for key, _, settings in automatic:
        take(key, free(settings)[:surge[key]])
    image = {key: settings.image or infrastructure.image for key, _, settings in groups}
    return [Group(key, field, settings.replicas, surge[key], settings.features, image[key],
                  tuple(chosen[key])) for key, field, settings in groups], problems


def _surge(settings: ControlPlane | NodePool) -> int:
    return settings.surge if isinstance(settings, ControlPlane) else settings.max_surge


def _accepts(wanted: HostFilter, machine: Machine) -> bool:
    if machine.capabilities is None:
        return wanted == HostFilter()
    return wanted.accepts(machine.capabilities)

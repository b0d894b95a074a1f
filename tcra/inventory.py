"""Load an Ansible inventory into the tcra model, through ansible-core's own loader.

Conventions (see docs/inventory.md): every child group of `sites` is a site whose
attributes are the group variable `tcra_site`; every host in a site group is a host of
that site with `tcra_bmc`, `tcra_bmc_credentials` and `tcra_capabilities`, or a hypervisor
with `tcra_libvirt_uri` and `tcra_capabilities` (or both). A host in no site group and without
those variables is Ansible's alone (a router, a controller) and not part of the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tcra import yamlsafe
from tcra.errors import InvalidInputError, Problem, problems_from, raise_if_any
from tcra.model import Host, Hypervisor, Inventory, Site
from tcra.model.fabric import Fabric
from tcra.model.host import VmPlatform
from tcra.model.inventory import ApiIssuer, cross_check

SITES_GROUP = "sites"
# Ansible spends tens of microseconds on each value it reads (it tags every one with its
# origin), so an inventory file is bounded well below yamlsafe's defaults: a 10,000-host
# hosts.yml holds about 30,000 values.
MAX_FILE_BYTES = 8 * 2**20
MAX_FILE_VALUES = 250_000
_M = TypeVar("_M", Host, Hypervisor)
M = TypeVar("M", bound=BaseModel)
# Model field -> the inventory variable it comes from, so errors name what the user edits.
_VARIABLE_OF_FIELD = {
    "bmc.credentials": "tcra_bmc_credentials",
    "bmc": "tcra_bmc",
    "capabilities": "tcra_capabilities",
    "libvirt_uri": "tcra_libvirt_uri",
    "network": "tcra_site.network",
}


def load(path: str | Path) -> Inventory:
    """Validate the inventory at `path`; raise InvalidInputError listing every problem found."""
    source = Path(path)
    if not source.exists():
        raise InvalidInputError(
            [Problem(str(source), "", "no inventory at this path", has_value=False)])
    raise_if_any(_unsafe_files(source))
    from ansible.errors import AnsibleError

    try:
        return _load(source)
    except AnsibleError as exc:  # from a file Ansible reads lazily (vars), e.g. a bad vault
        raise InvalidInputError([Problem(str(source), "", "Ansible cannot read the inventory: "
                                         + exc.message.splitlines()[0], has_value=False)]
                                ) from None


def _load(source: Path) -> Inventory:
    manager, variables, failed = _parse(source)
    problems = [
        Problem(str(file), "", f"Ansible cannot read this file: {reason}", has_value=False)
        for file, reason in failed
    ]
    site_groups = _site_groups(manager)
    if site_groups is None:
        problems.append(Problem(str(source), "", f"no group named {SITES_GROUP!r} whose"
                                " children are the sites", has_value=False))
        site_groups = []
    sites = [site for group in site_groups if (site := _site(group, manager, problems))]
    site_names = {group.name for group in site_groups}
    hosts: list[Host] = []
    hypervisors: list[Hypervisor] = []
    for ansible_host in sorted(manager.get_hosts(), key=lambda h: h.name):
        host, hypervisor = _host(ansible_host, site_names, variables, problems)
        hosts += [host] if host else []
        hypervisors += [hypervisor] if hypervisor else []
    problems += [_renamed(p) for p in cross_check(site_names, sites, hosts)]
    fabric = _everyone(Fabric, "tcra_fabric", "fabric", manager, problems)
    api = _everyone(ApiIssuer, "tcra_api", "api", manager, problems)
    vm_platform = _everyone(VmPlatform, "tcra_vm_platform", "vm_platform", manager, problems)
    if fabric is not None:
        problems += [Problem("fabric", f"tcra_fabric.hbrs.{i}.site", "expected one of the"
                             f" inventory's sites ({', '.join(sorted(site_names)) or 'none'})",
                             hbr.site)
                     for i, hbr in enumerate(fabric.hbrs)
                     if hbr.site is not None and hbr.site not in site_names]
    store = _group_vars(everyone, manager).get("tcra_store") if (
        everyone := manager.groups.get("all")) else None
    if store is not None and not isinstance(store, str):
        problems.append(Problem("all", "tcra_store", "expected a database URL", store))
    raise_if_any(problems)
    return Inventory(sites=tuple(sites), hosts=tuple(hosts), hypervisors=tuple(hypervisors),
                     fabric=fabric, store=store, api=api,
                     vm_platform=vm_platform)


def _everyone(model: type[M], variable: str, label: str, manager: Any,
              problems: list[Problem]) -> M | None:
    """A variable of group `all` validated into `model`; None when it is not set."""
    everyone = manager.groups.get("all")
    described = _plain(_group_vars(everyone, manager).get(variable)) if everyone else None
    if described is None:
        return None
    try:
        return model.model_validate(described)
    except ValidationError as exc:
        problems += [_renamed(p, variable) for p in problems_from(exc, label)]
        return None


def _unsafe_files(source: Path) -> list[Problem]:
    """Every file Ansible will read, within yamlsafe's bounds, before Ansible reads any.

    So an alias bomb, a huge or non-UTF-8 file, or a key given twice (which Ansible would
    resolve silently to the last) in hosts, group_vars or host_vars is one line. A hosts file
    that is not YAML may be INI, which Ansible reads when YAML fails: Ansible reports it.
    """
    problems = []
    for file in _inventory_files(source):
        try:
            yamlsafe.load(file, max_bytes=MAX_FILE_BYTES, max_nodes=MAX_FILE_VALUES)
        except yamlsafe.UnsafeInputError as exc:
            if not exc.malformed or set(_VARS_FOLDERS) & set(file.parts):
                problems.append(Problem(exc.where, "", exc.reason, has_value=False))
    return problems


_VARS_FOLDERS = ("group_vars", "host_vars")
_YAML_SUFFIXES = ("", ".yml", ".yaml", ".json")


def _inventory_files(source: Path) -> list[Path]:
    """The files Ansible's inventory and host_group_vars plugins read as YAML for `source`."""
    roots = [source] if source.is_dir() else [source.parent / name for name in _VARS_FOLDERS]
    found = [] if source.is_dir() else [source]
    for root in roots:
        found += [path for path in sorted(root.rglob("*")) if path.is_file()
                  and path.suffix in _YAML_SUFFIXES
                  and not any(part.startswith(".") for part in path.relative_to(root).parts)]
    return found



def _parse(source: Path) -> tuple[Any, Any, list[tuple[Path, str]]]:
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    failed: list[tuple[Path, str]] = []

    class _RecordingManager(InventoryManager):  # type: ignore[misc]
        def parse_source(self, source: str, cache: bool = False) -> bool:
            parsed: bool = super().parse_source(source, cache=cache)
            if not parsed and Path(source).is_file():
                try:
                    loader.load_from_file(source)
                    reason = "not an inventory in any format Ansible knows"
                except AnsibleError as exc:
                    reason = exc.message.splitlines()[0]
                failed.append((Path(source), reason))
            return parsed

    loader = DataLoader()
    manager = _RecordingManager(loader=loader, sources=[str(source)])
    return manager, VariableManager(loader=loader, inventory=manager), failed


def _site_groups(manager: Any) -> list[Any] | None:
    group = manager.groups.get(SITES_GROUP)
    if group is None:
        return None
    return sorted(group.child_groups, key=lambda g: g.name)


def _group_vars(group: Any, manager: Any) -> dict[str, Any]:
    """A group's own variables: inline ones, then group_vars/ files (Ansible's order)."""
    from ansible.utils.vars import combine_vars
    from ansible.vars.plugins import get_vars_from_inventory_sources

    merged: dict[str, Any] = combine_vars(
        group.get_vars(),
        get_vars_from_inventory_sources(manager._loader, manager._sources, [group], "all"))
    return merged


def _site(group: Any, manager: Any, problems: list[Problem]) -> Site | None:
    attributes = _plain(_group_vars(group, manager).get("tcra_site"))
    where = f"site {group.name}"
    if not isinstance(attributes, dict):
        problems.append(Problem(where, "tcra_site", "missing; expected the site's attributes"
                                " (tier, location, provider, jurisdiction, energy)",
                                has_value=False))
        return None
    try:
        return Site.model_validate({"id": group.name, **attributes})
    except ValidationError as exc:
        problems += [_renamed(p, "tcra_site") for p in problems_from(exc, where)]
        return None


def _host(ansible_host: Any, site_names: set[str], variables: Any,
          problems: list[Problem]) -> tuple[Host | None, Hypervisor | None]:
    where = f"host {ansible_host.name}"
    host_vars = variables.get_vars(host=ansible_host, include_hostvars=False)
    sites = sorted(site_names & {g.name for g in ansible_host.get_groups()})
    uri = _plain(host_vars.get("tcra_libvirt_uri"))
    if not sites and "tcra_bmc" not in host_vars and uri is None:
        return None, None
    if len(sites) != 1:
        found = f"it is in {', '.join(sites)}" if sites else "it is in none"
        problems.append(Problem(where, "site", f"expected the host in exactly one site group;"
                                f" {found} (a duplicate host name?)", has_value=False))
        return None, None
    capabilities = _plain(host_vars.get("tcra_capabilities"))
    common = {"name": ansible_host.name, "site": sites[0], "capabilities": capabilities}
    hypervisor = None
    if uri is not None:
        hypervisor = _validated(Hypervisor, {**common, "libvirt_uri": uri}, where, problems)
        if "tcra_bmc" not in host_vars:
            return None, hypervisor
    bmc = _plain(host_vars.get("tcra_bmc"))
    if isinstance(bmc, dict) and "tcra_bmc_credentials" in host_vars:
        bmc = {**bmc, "credentials": _plain(host_vars["tcra_bmc_credentials"])}
    return _validated(Host, {**common, "bmc": bmc}, where, problems), hypervisor


def _validated(model: type[_M], fields: dict[str, Any], where: str,
               problems: list[Problem]) -> _M | None:
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems += [_renamed(p) for p in problems_from(exc, where)]
        return None


def _renamed(problem: Problem, prefix: str = "") -> Problem:
    """Name the inventory variable a field comes from, not the model's internal path."""
    field = problem.field
    for model_path, variable in _VARIABLE_OF_FIELD.items():
        if field == model_path or field.startswith(model_path + "."):
            field = variable + field[len(model_path):]
            break
    else:
        if prefix:
            field = f"{prefix}.{field}"
    return Problem(problem.where, field, problem.message, problem.value, problem.has_value)


def _plain(value: Any) -> Any:
    """Strip Ansible's data tags so pydantic sees ordinary dicts, lists and scalars."""
    from ansible.module_utils._internal._datatag import AnsibleTagHelper

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return AnsibleTagHelper.untag(value)

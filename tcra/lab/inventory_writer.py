"""Write the lab as an ordinary inventory, so every tool reads the lab like a real site."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tcra.lab.bmc import password_file
from tcra.lab.fabric_state import FabricState
from tcra.lab.processes import LabError
from tcra.lab.spec import Bmc, LabSpec, Node
from tcra.model import BmcCredentials, BmcEndpoint, Capabilities, Energy, Location, Site, Tier

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


def write(spec: LabSpec, bmc: Bmc, nodes: tuple[Node, ...], fabric: FabricState) -> Path:
    root = spec.inventory
    if root.exists() and not (root / MARKER).exists():
        raise LabError(f"{root} exists and was not written by the lab; choose another"
                       " --inventory or move it away")
    shutil.rmtree(root, ignore_errors=True)
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / MARKER).write_text(f"{spec.state_dir}\n")
    sites = {site: [n.name for n in nodes if n.site == site] for site in _SITES}
    _dump(root / "hosts.yml", {"all": {"children": {"sites": {"children": {
        site: {"hosts": dict.fromkeys(names)} for site, names in sites.items()}}}}})
    credentials = BmcCredentials(username=bmc.username, password=f"file:{password_file(spec)}")
    _dump(root / "group_vars" / "all.yml", {
        "tcra_bmc_credentials": credentials.model_dump(mode="json"),
        "tcra_capabilities": Capabilities(cores=spec.vcpus, memory=spec.memory)
        .model_dump(mode="json", exclude_defaults=True),
        "tcra_fabric": fabric.fabric.model_dump(mode="json", exclude_defaults=True),
    })
    for site_id, site in _SITES.items():
        _dump(root / "group_vars" / f"{site_id}.yml",
              {"tcra_site": site.model_dump(mode="json", exclude={"id"}, exclude_defaults=True)})
    for node in nodes:
        # The emulator offers no Redfish sessions: basic auth saves a failed login per call.
        endpoint = BmcEndpoint(address=bmc.url, system_id=node.uuid, credentials=credentials,
                               auth="basic")
        _dump(root / "host_vars" / f"{node.name}.yml", {
            "tcra_bmc": endpoint.model_dump(mode="json", exclude={"credentials"},
                                            exclude_defaults=True)})
    return root.resolve()


def remove(path: Path) -> None:
    """Remove a lab-written inventory; leave anything else alone."""
    if (path / MARKER).exists():
        shutil.rmtree(path)


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False))

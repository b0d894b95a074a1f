"""The `tcra` command: validate inventories, print the schema, list hosts, run the lab."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tcra import lab
from tcra.bmc import power_states
from tcra.errors import InvalidInputError, TcraError, problems_from
from tcra.inventory import load
from tcra.lab.spec import LabSpec
from tcra.model import Inventory

app = typer.Typer(help="tcra: the Telco Cloud Reference Architecture as code.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
lab_app = typer.Typer(help="A whole telco cloud on this machine, with real protocol peers.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")
# Piped output keeps whole lines (rich would otherwise wrap tables at 80 columns).
out = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True)

InventoryPath = Annotated[Path, typer.Argument(help="An Ansible inventory folder or file.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LabName = Annotated[str, typer.Option("--name", help="Lab name (prefix of all it makes).")]
StateRoot = Annotated[Path | None, typer.Option("--state-root", help="Where labs keep their state"
                     " (default ~/.local/state/tcra/labs).")]


@app.command()
def validate(inventory: InventoryPath) -> None:
    """Check an inventory against the model; every problem on its own line."""
    loaded = _load(inventory)
    out.print(f"{inventory}: valid, {len(loaded.sites)} site(s), {len(loaded.hosts)} host(s)")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the inventory model (sites and hosts)."""
    print(json.dumps(Inventory.model_json_schema(), indent=2))


@app.command()
def hosts(inventory: InventoryPath, as_json: AsJson = False) -> None:
    """List the inventory's hosts with their live power state, read from each BMC."""
    loaded = _load(inventory)
    readings = power_states(loaded.hosts)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in readings], indent=2))
    else:
        caps = {h.name: h.capabilities for h in loaded.hosts}
        table = Table("host", "site", "cores", "memory", "GPUs", "VFs", "BMC", "power")
        for r in readings:
            c = caps[r.host]
            table.add_row(r.host, r.site, str(c.cores), str(c.memory), str(c.gpu_count),
                          str(c.sriov_vfs), r.bmc, r.power or f"[red]{r.error}[/red]")
        out.print(table)
    if any(r.error for r in readings):
        raise typer.Exit(1)


@lab_app.command("up")
def lab_up(
    nodes: Annotated[int, typer.Option(help="Virtual bare-metal nodes.")] = 2,
    memory: Annotated[str, typer.Option(help="Memory per node, e.g. 64Mi.")] = "64Mi",
    vcpus: Annotated[int, typer.Option(help="vCPUs per node.")] = 1,
    disk: Annotated[str, typer.Option(help="Blank (sparse) disk per node, e.g. 1Gi.")] = "1Gi",
    bmc_port: Annotated[int, typer.Option(help="Redfish emulator port; 0 picks one.")] = 0,
    inventory: Annotated[Path, typer.Option(help="Where to write the lab's inventory.")] = Path(
        "inventories/lab"),
    name: LabName = "lab",
    state_root: StateRoot = None,
) -> None:
    """Start the lab (libvirtd, nodes, Redfish BMC) and write its inventory. Safe to re-run."""
    spec = _spec(name=name, nodes=nodes, memory=memory, vcpus=vcpus, disk=disk, bmc_port=bmc_port,
                 inventory=inventory, state_root=state_root)
    with err.status("lab up") as progress:
        state = lab.up(spec, report=lambda msg: progress.update(f"lab up: {msg}"))
    assert state.bmc is not None  # noqa: S101 - up always serves a BMC
    out.print(f"lab [bold]{spec.name}[/bold] is up: {len(state.nodes)} node(s) behind the"
              f" Redfish BMC at {state.bmc.url}; inventory {state.inventory}")


@lab_app.command("status")
def lab_status(as_json: AsJson = False, name: LabName = "lab",
               state_root: StateRoot = None) -> None:
    """Report what the lab runs: BMC URL, nodes and their power states."""
    report = lab.status(_spec(name=name, state_root=state_root))
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    if not report.nodes and not report.running:
        out.print(f"lab {report.name} is not up")
        return
    out.print(f"lab {report.name}: BMC {report.bmc_url}"
              f" ({'answers' if report.bmc_answers else 'NOT answering'}),"
              f" libvirt {report.libvirt_uri}, inventory {report.inventory}")
    table = Table("node", "site", "system id", "power")
    for node in report.nodes:
        table.add_row(node.name, node.site, node.uuid, node.power)
    out.print(table)


@lab_app.command("down")
def lab_down(name: LabName = "lab", state_root: StateRoot = None) -> None:
    """Stop and remove everything the lab made. Safe to run twice."""
    with err.status("lab down") as progress:
        notes = lab.down(_spec(name=name, state_root=state_root),
                         report=lambda msg: progress.update(f"lab down: {msg}"))
    for note in notes:
        err.print(f"note: {note}")
    out.print(f"lab {name} is down")


def _load(path: Path) -> Inventory:
    try:
        return load(path)
    except InvalidInputError as exc:
        for problem in exc.problems:
            print(problem)
        raise typer.Exit(1) from None


def _spec(**fields: object) -> LabSpec:
    try:
        return LabSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        for problem in problems_from(exc, "tcra lab"):
            print(problem)
        raise typer.Exit(2) from None


def main() -> None:
    try:
        app()
    except TcraError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)

"""Options more than one `tcra` command group takes, declared once, and the lab spec they
make."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from tcra.errors import InvalidInputError, problems_from

if TYPE_CHECKING:
    from tcra.lab.spec import LabSpec, LabState

InventoryOption = Annotated[Path | None, typer.Option("--inventory", help="The sites and"
                            " hosts (an Ansible inventory; default with --lab: the lab's).")]
StoreOption = Annotated[str | None, typer.Option("--store", help="Database URL (default: the"
                        " inventory's tcra_store, else the local one).")]
LabOption = Annotated[str | None, typer.Option("--lab", help="A lab that is up: its"
                      " inventory, its Prometheus, its users' namespace.")]
StateRoot = Annotated[Path | None, typer.Option("--state-root", help="Where labs keep their state"
                     " (default ~/.local/state/tcra/labs).")]


def lab_spec(command: str, **fields: object) -> LabSpec:
    """The lab's spec from a command's options (those not given take their defaults); bad
    ones are printed one per line, naming `command`, and exit 2."""
    from tcra.lab.spec import LabSpec

    try:
        return LabSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        for problem in problems_from(exc, command):
            print(problem)
        raise typer.Exit(2) from None


def lab_state(name: str | None, state_root: Path | None, command: str) -> LabState | None:
    if name is None:
        return None
    from tcra.lab.spec import load_state

    state = load_state(lab_spec(command, name=name, state_root=state_root))
    if state is None or state.inventory is None or state.monitor is None:
        print(f"{command}: lab {name} is not up with its monitoring (tcra lab up)")
        raise typer.Exit(1)
    return state


def store_url(inventory: Path | None, store: str | None, state: LabState | None,
              command: str) -> str:
    """`--store`, else the inventory's (or the lab's) tcra_store, else the local one."""
    from tcra.inventory import load
    from tcra.mco.store import default_url

    path = inventory or (state.inventory if state else None)
    if store or path is None:
        return store or default_url()
    try:
        return load(path).store or default_url()
    except InvalidInputError as exc:
        refuse(exc)


def refuse(exc: InvalidInputError) -> NoReturn:
    print("\n".join(exc.lines()))
    raise typer.Exit(2)

"""Options more than one `tcra` command group takes, declared once, and the lab spec they
make."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from tcra.errors import problems_from

if TYPE_CHECKING:
    from tcra.lab.spec import LabSpec

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

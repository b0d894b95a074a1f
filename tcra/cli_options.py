"""Options more than one `tcra` command group takes, declared once."""

from pathlib import Path
from typing import Annotated

import typer

StateRoot = Annotated[Path | None, typer.Option("--state-root", help="Where labs keep their state"
                     " (default ~/.local/state/tcra/labs).")]

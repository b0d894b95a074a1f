"""Where tcra keeps what it makes on this machine by default: its folder in the XDG state home."""

from __future__ import annotations

import os
from pathlib import Path


def state_home() -> Path:
    """$XDG_STATE_HOME/tcra, else ~/.local/state/tcra: the lab's state, the default store,
    `tcra serve`'s stacks."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "tcra"

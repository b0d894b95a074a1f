"""Who made what: the owner written on everything a provider creates.

Two stacks of one program on one lab have the same project, stack and resource names; only the
identity each stack makes once, at its first `up`, and keeps in its state tells them apart
(`tcra.providers.stack_owner`). A provider writes its resource's owner on what it creates,
adopts only what carries that same owner (a crashed run of the same stack), and refuses, never
adopts or deletes, what carries another one, as Metal3's consumerRef does for hosts.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from tcra.errors import TcraError

_OWNER = re.compile(r"^[^\s@]{1,400}@[0-9a-f]{32}$")


def _owner(value: str) -> str:
    if not _OWNER.match(value):
        raise ValueError("expected <project>/<stack>/<resource>@<stack identity, 32 hex digits>")
    return value


Owner = Annotated[str, AfterValidator(_owner)]


def owner_text(project: str, stack: str, resource: str, identity: str) -> str:
    return f"{project}/{stack}/{resource}@{identity}"


class OwnedElsewhereError(TcraError):
    """The object exists and carries another owner: tcra neither adopts nor deletes it."""

    def __init__(self, what: str, where: str, owner: str | None) -> None:
        self.owner = owner
        holder = f"belongs to {owner}" if owner else "was not made by tcra"
        super().__init__(f"{what} at {where} {holder}; it was left untouched (remove that"
                         " stack's resource first, or choose another name)")

"""StackOwner: the identity one stack makes at its first `up` and keeps in its state.

Every tcra resource of the program writes `<project>/<stack>/<resource>@<identity>` on what it
creates (`tcra.ownership`), so a second stack of the same program, with its own backend, finds
the first stack's VMs, hosts and routes owned by someone else. The identity is made in
`create`, so it is the same for every later `up` of the stack and new for every new stack.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider

from tcra.ownership import owner_text

_NAME = "tcra-stack-owner"
_STACK_OWNERS: weakref.WeakKeyDictionary[Any, StackOwner] = weakref.WeakKeyDictionary()


class StackOwnerProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        identity = uuid.uuid4().hex
        return CreateResult(id_=identity, outs={"identity": identity})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs={"identity": id_})


class StackOwner(Resource, module="tcra", name="StackOwner"):
    identity: pulumi.Output[str]

    def __init__(self, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(StackOwnerProvider(), _NAME, {"identity": None}, opts)


def owner_of(resource: str) -> pulumi.Output[str]:
    """The owner to write on what the resource named `resource` creates; the program's one
    StackOwner is registered with the first resource that asks."""
    # One StackOwner per program run, and a run is one monitor connection (a test that runs
    # several programs under mocks gets a new monitor for each).
    monitor = pulumi.runtime.settings.get_monitor()
    stack_owner = _STACK_OWNERS.get(monitor)
    if stack_owner is None:
        stack_owner = _STACK_OWNERS[monitor] = StackOwner()
    project, stack = pulumi.get_project(), pulumi.get_stack()
    return stack_owner.identity.apply(
        lambda identity: owner_text(project, stack, resource, identity))

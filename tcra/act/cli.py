"""`tcra actions serve | list | show | approve | reject`: the action agent and the decisions
on what it proposes (docs/assurance.md)."""

from __future__ import annotations

import getpass
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tcra.cli_options import (
    InventoryOption,
    LabOption,
    StateRoot,
    StoreOption,
    lab_state,
    refuse,
    store_url,
)
from tcra.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    from tcra.act.agent import Agent
    from tcra.act.model import Action
    from tcra.act.stack import StackRef
    from tcra.act.store import ActionStore
    from tcra.lab.spec import LabState

actions_app = typer.Typer(help="The action agent: alerts become actions that a human approves"
                          " or rejects.", no_args_is_help=True)
ACT_PORT = 9466
StackOption = Annotated[Path, typer.Option("--stack", help="The Pulumi project folder of the"
                                           " stack the actions change.")]
StackName = Annotated[str, typer.Option("--stack-name", help="Its stack, as `pulumi stack"
                                        " select` names it.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides, for the audit trail"
                                              " (default: the login name).")]
IdArgument = Annotated[str, typer.Argument(help="The action's id (`tcra actions list`).")]


@actions_app.command("serve")
def serve(
    stack: StackOption, stack_name: StackName,
    inventory: InventoryOption = None, store: StoreOption = None, lab: LabOption = None,
    state_root: StateRoot = None,
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", help="The bearer token Alertmanager sends (default with --lab: the"
        " lab's).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Default: the"
                                             " one the lab's Alertmanager sends to, else"
                                             f" {ACT_PORT}.")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Approve every proposed re-placement at once (the policy is"
        " the approver in the audit trail).")] = False,
) -> None:
    """Receive Alertmanager's webhook at /alerts and propose an action for each latency
    budget alert, with the stack's preview, until interrupted."""
    from tcra.act.agent import Agent
    from tcra.act.server import Webhook

    state = lab_state(lab, state_root, "tcra actions serve")
    token_path = token_file or (state.monitor.act_token if state and state.monitor else None)
    if token_path is None or not token_path.is_file():
        refuse(InvalidInputError([Problem("tcra actions serve", "--token-file",
                                          "expected a file holding the bearer token (or"
                                          " --lab)", str(token_path) if token_path else None)]))
    token = token_path.read_text().strip()
    listen = port or (state.monitor.act_port if state and state.monitor else ACT_PORT)
    agent = Agent(_store(inventory, store, state, "tcra actions serve"),
                  _stack(stack, stack_name), auto_approve=auto_approve)
    webhook = Webhook(agent, token, host, listen)
    print(f"tcra actions: webhook at http://{host}:{webhook.port}/alerts for stack"
          f" {stack_name} in {stack}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=webhook.close).start())
    try:
        webhook.serve()
    except KeyboardInterrupt:
        webhook.close()


@actions_app.command("list")
def list_actions(
    inventory: InventoryOption = None, store: StoreOption = None, lab: LabOption = None,
    state_root: StateRoot = None,
    state: Annotated[str | None, typer.Option("--state", help="Only actions in this state"
                                              " (proposed, applied, ...).")] = None,
) -> None:
    """One line per action, oldest first."""
    from tcra.act.model import ActionState

    wanted = None
    if state is not None:
        try:
            wanted = ActionState(state)
        except ValueError:
            refuse(InvalidInputError([Problem("tcra actions list", "--state", "expected one of "
                                              + ", ".join(s.value for s in ActionState),
                                              state)]))
    lab_up = lab_state(lab, state_root, "tcra actions list")
    for action in _store(inventory, store, lab_up, "tcra actions list").actions(wanted):
        print(f"{action.id}  {action.state:<9}  {_when(action.created)}  {action.alert}"
              f"  {action.service}/{action.workload} at {action.measurement.site}:"
              f" {action.measurement.rtt_ms:g} ms")


@actions_app.command("show")
def show(action_id: IdArgument, inventory: InventoryOption = None, store: StoreOption = None,
         lab: LabOption = None, state_root: StateRoot = None) -> None:
    """The action, the preview of what applying it changes, and its audit trail."""
    database = _store(inventory, store, lab_state(lab, state_root, "tcra actions show"),
                      "tcra actions show")
    action = database.action(action_id)
    if action is None:
        print(f"tcra actions show: no action {action_id}")
        raise typer.Exit(1)
    print(f"action {action.id}: {action.state}\n  alert: {action.alert}"
          f" for {action.service}/{action.workload}\n  measured: {action.measurement.rtt_ms:g}"
          f" ms to it at site {action.measurement.site}\n  reason: {action.reason}")
    print("  preview:" + "".join(f"\n    {step}" for step in action.preview) if action.preview
          else "  preview: nothing would change")
    print("  audit:")
    for event in database.events(action.id):
        detail = f": {event.detail}" if event.detail else ""
        print(f"    {_when(event.at)}  {event.event} by {event.actor}{detail}")


@actions_app.command("approve")
def approve(action_id: IdArgument, stack: StackOption, stack_name: StackName,
            inventory: InventoryOption = None, store: StoreOption = None,
            lab: LabOption = None, state_root: StateRoot = None, by: ByOption = None) -> None:
    """Approve; the stack is previewed again and, if the preview is the one approved,
    brought up (otherwise the action is refused, unapplied)."""
    agent = _agent(stack, stack_name, inventory, store, lab, state_root, "tcra actions approve")
    _decided(agent.store, lambda: agent.approve(action_id, by or getpass.getuser()))


@actions_app.command("reject")
def reject(action_id: IdArgument, inventory: InventoryOption = None,
           store: StoreOption = None, lab: LabOption = None, state_root: StateRoot = None,
           by: ByOption = None,
           why: Annotated[str, typer.Option("--why", help="For the audit trail.")] = "") -> None:
    """Reject: nothing is applied."""
    database = _store(inventory, store, lab_state(lab, state_root, "tcra actions reject"),
                      "tcra actions reject")
    _decided(database, lambda: database.reject(action_id, by or getpass.getuser(), time.time(),
                                               why))


def _decided(database: ActionStore, decide: Callable[[], Action]) -> None:
    from tcra.act.model import ActionState
    from tcra.act.store import ActionStateError

    try:
        action = decide()
    except ActionStateError as exc:
        print(f"tcra actions: {exc}")
        raise typer.Exit(1) from None
    print(f"action {action.id}: {action.state}")
    last = database.events(action.id)[-1]
    if last.detail:
        print(last.detail)
    if action.state in (ActionState.REFUSED, ActionState.FAILED):
        raise typer.Exit(1)


def _agent(stack: Path, stack_name: str, inventory: Path | None, store: str | None,
           lab: str | None, state_root: Path | None, command: str) -> Agent:
    from tcra.act.agent import Agent

    return Agent(_store(inventory, store, lab_state(lab, state_root, command), command),
                 _stack(stack, stack_name))


def _store(inventory: Path | None, store: str | None, state: LabState | None, command: str
           ) -> ActionStore:
    from tcra.act.store import ActionStore

    database = ActionStore(store_url(inventory, store, state, command))
    database.migrate()
    return database


def _stack(project: Path, name: str) -> StackRef:
    from tcra.act.stack import StackRef

    if not (project / "Pulumi.yaml").is_file():
        refuse(InvalidInputError([Problem("tcra actions", "--stack", "expected a Pulumi"
                                          " project folder (with a Pulumi.yaml)",
                                          str(project))]))
    return StackRef(project=project.resolve(), stack=name)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


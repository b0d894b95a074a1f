"""The stack an action changes, run the way a user runs it: `pulumi preview --json` shows what
an action would do, `pulumi up` applies it. TCRA_MEASURED hands the program the action's
measurement, which its MultiCloudOrchestrator places with (components/orchestrator.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from tcra.act.model import Action, Measured
from tcra.errors import InvalidInputError, problems_from
from tcra.mco.model import MeasuredPath
from tcra.model.base import Model

MEASURED = "TCRA_MEASURED"
INVENTORY = ":WorkloadInventory"  # providers/workload_inventory.py's resource type
TIMEOUT = 900.0  # seconds: an up that replaces releases waits for their pods


class StackRef(Model):
    """A Pulumi project folder and its stack, with the backend and secrets of the caller's
    environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE...)."""

    project: Path
    stack: str = Field(min_length=1, max_length=100)


class Preview(Model):
    steps: tuple[str, ...] = Field(description="Each workload the plan moves, then `op urn`"
                                   " for each step that changes something.")
    digest: str
    error: str | None = Field(default=None, description="Why the program failed (the MCO's"
                              " reasons when nothing within budget is left).")


def preview(stack: StackRef, action: Action, timeout: float = TIMEOUT) -> Preview:
    done = _pulumi(stack, action, ["preview", "--json"], timeout)
    try:
        report = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    found = report.get("steps", [])
    steps = (*sorted(_moves(found)),
             *sorted(f"{s.get('op')} {s.get('urn')}" for s in found if s.get("op") != "same"))
    digest = hashlib.sha256("\n".join(steps).encode()).hexdigest()
    if done.returncode == 0:
        return Preview(steps=steps, digest=digest)
    errors = [d.get("message", "").strip() for d in report.get("diagnostics", [])
              if d.get("severity") == "error"]
    return Preview(steps=steps, digest=digest,
                   error="\n".join(e for e in errors if e) or _tail(done.stderr))


def _moves(steps: list[dict[str, Any]]) -> Iterator[str]:
    """The plan's moves, from the workload inventory the stack records (its inputs are the
    placements): a release that moves keeps its URN, so the steps alone would not tell where."""
    for step in steps:
        new, old = step.get("newState") or {}, step.get("oldState") or {}
        if not str(new.get("type", "")).endswith(INVENTORY):
            continue
        before, after = (_sites(state) for state in (old, new))
        yield from (f"move {w}: {before.get(w, 'new')} -> {site}" for w, site in after.items()
                    if before.get(w) != site)
        yield from (f"remove {w} from {site}" for w, site in before.items() if w not in after)


def _sites(state: dict[str, Any]) -> dict[str, str]:
    return {p["workload"]: p["site"] for p in (state.get("inputs") or {}).get("placements", [])
            if isinstance(p, dict) and "workload" in p and "site" in p}


def up(stack: StackRef, action: Action, timeout: float = TIMEOUT) -> str | None:
    """Apply; None when it succeeded, otherwise the end of pulumi's output."""
    done = _pulumi(stack, action, ["up", "--yes", "--skip-preview"], timeout)
    return None if done.returncode == 0 else _tail(done.stdout + done.stderr)


def _pulumi(stack: StackRef, action: Action, args: list[str], timeout: float
            ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["pulumi", *args, "--stack", stack.stack, "--non-interactive"], cwd=stack.project,
            env={**os.environ, MEASURED: Measured(
                service=action.service, workload=action.workload,
                **action.measurement.model_dump()).model_dump_json()},
            capture_output=True, text=True,
            timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, 124, "", f"no end within {timeout:.0f}s")


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def measured_for(service: str) -> MeasuredPath | None:
    """What the users measured, from the action a preview or an up of this stack runs for
    (none when the program runs for anything else, or for another service)."""
    given = os.environ.get(MEASURED)
    if not given:
        return None
    try:
        measured = Measured.model_validate_json(given)
    except ValidationError as exc:
        raise InvalidInputError(problems_from(exc, MEASURED)) from None
    return measured if measured.service == service else None

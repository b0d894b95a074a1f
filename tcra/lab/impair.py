"""Faults injected on the lab's fabric (`tcra lab impair`, `tcra lab repair`): a link congested
the way a loaded access link is, or taken down.

The kernel here has no netem, so delay is made for real: tbf caps the link's rate at its near
end, and a background flow from there to the far end fills tbf's queue, so what crosses the
link waits in it (up to tbf's latency) and what overflows is dropped. Down is the near end set
down (its addresses kept, so `up` restores the routes over it).

What was done is kept in the lab's state folder, so `repair` undoes exactly that, and so does
`lab down` (a flow is a process, which removing the namespaces would not end)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from ipaddress import IPv6Address
from pathlib import Path
from typing import Literal

from pydantic import Field, TypeAdapter

from tcra.errors import InvalidInputError, Problem
from tcra.lab.fabric import ULINK, underlay
from tcra.lab.fabric_state import FabricState
from tcra.lab.processes import run
from tcra.lab.spec import LabSpec
from tcra.model.base import Model

STATE_FILE = "impairments.json"
LINKS = ("underlay", "users")
FLOW_FACTOR = 2        # the background flow sends this many times the capped rate
QUEUE_LATENCY_MS = 400  # what waits longer in tbf's queue is dropped

Kind = Literal["congest", "down"]


class Impairment(Model):
    """One fault on one link, and what undoes it."""

    link: str
    kind: Kind
    namespace: str = Field(description="The near end's network namespace.")
    dev: str
    rate_kbit: int | None = Field(default=None, description="tbf's rate (congest).")
    flow_pid: int | None = Field(default=None, description="The background flow (congest).")


def impair(spec: LabSpec, fabric: FabricState, link: str, kind: Kind,
           rate_kbit: int = 1000) -> Impairment:
    """Congest or take down `link` (one of LINKS); refused when it is impaired already."""
    if link not in LINKS:
        raise InvalidInputError([Problem("tcra lab impair", "link",
                                         f"expected one of {', '.join(LINKS)}", link)])
    if rate_kbit < 8:
        raise InvalidInputError([Problem("tcra lab impair", "rate", "expected at least 8"
                                         " kbit/s", rate_kbit)])
    held = impairments(spec)
    if any(i.link == link for i in held):
        raise InvalidInputError([Problem("tcra lab impair", "link", "expected a link not"
                                         " impaired already (tcra lab repair first)", link)])
    namespace, dev, far = _ends(fabric, link)
    if kind == "down":
        run(["ip", "netns", "exec", namespace, "sysctl", "-qw",
             f"net.ipv6.conf.{dev}.keep_addr_on_down=1"], timeout=15)
        run(["ip", "-n", namespace, "link", "set", dev, "down"], timeout=15)
        done = Impairment(link=link, kind=kind, namespace=namespace, dev=dev)
    else:
        run(["ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
             "rate", f"{rate_kbit}kbit", "burst", "4kb", "latency", f"{QUEUE_LATENCY_MS}ms"],
            timeout=15)
        flow = subprocess.Popen(  # ends with repair, or after flood.LONGEST_S
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "tcra.lab.flood", far,
             str(rate_kbit * FLOW_FACTOR)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        done = Impairment(link=link, kind=kind, namespace=namespace, dev=dev,
                          rate_kbit=rate_kbit, flow_pid=flow.pid)
    _save(spec, [*held, done])
    return done


def repair(spec: LabSpec, link: str | None = None) -> list[Impairment]:
    """Undo what impair did to `link` (None: to every link); what was undone."""
    held = impairments(spec)
    undone = [i for i in held if link is None or i.link == link]
    for each in undone:
        if each.flow_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(each.flow_pid, signal.SIGTERM)
        if not _namespace_exists(each.namespace):
            continue  # the fabric is gone already: nothing of the fault is left
        if each.kind == "down":
            run(["ip", "-n", each.namespace, "link", "set", each.dev, "up"], timeout=15)
        else:
            run(["ip", "netns", "exec", each.namespace, "tc", "qdisc", "del", "dev", each.dev,
                 "root"], timeout=15)
    _save(spec, [i for i in held if i not in undone])
    return undone


def impairments(spec: LabSpec) -> list[Impairment]:
    path = spec.state_dir / STATE_FILE
    if not path.exists():
        return []
    return _LIST.validate_json(path.read_bytes())


def _ends(fabric: FabricState, link: str) -> tuple[str, str, str]:
    """The link's near end (namespace, device) and the far end's address: on the users' side
    of the underlay, and the users' HBR on their link, so what users send and get crosses it."""
    hbrs = {h.name: h for h in fabric.fabric.hbrs}
    near = hbrs[fabric.users_hbr].namespace or ""
    if link == "users":
        return near, "usr0", fabric.user_address
    addresses = underlay(fabric)
    far = next(name for name in hbrs if name != fabric.users_hbr)
    return near, ULINK, str(IPv6Address(addresses[far]))


def _namespace_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def _save(spec: LabSpec, held: list[Impairment]) -> None:
    path = spec.state_dir / STATE_FILE
    if not held:
        path.unlink(missing_ok=True)
        return
    path.write_bytes(_LIST.dump_json(held))


_LIST = TypeAdapter(list[Impairment])

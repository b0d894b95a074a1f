"""`tcra sense serve`, `rules` and `picture`: tcra's metrics for Prometheus, the alert rules
made from what was deployed, and what Prometheus recorded drawn (docs/assurance.md)."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from tcra.cli_options import (
    InventoryOption,
    LabOption,
    StateRoot,
    StoreOption,
    lab_state,
    refuse,
    store_url,
)
from tcra.errors import InvalidInputError, Problem, problems_from

if TYPE_CHECKING:
    from tcra.lab.spec import LabState
    from tcra.model import Inventory
    from tcra.sense.probe import ProbeTarget

sense_app = typer.Typer(help="Metrics and alert rules: the sensing of the TCRA's loop.",
                        no_args_is_help=True)
PROBE = re.compile(r"^(?P<service>[^/=]+)/(?P<workload>[^/=]+)(?:=(?P<address>.+))?$")
SENSE_PORT = 9464  # the port Prometheus' exporters conventionally take for such a program



@sense_app.command("serve")
def serve(
    inventory: InventoryOption = None, store: StoreOption = None, lab: LabOption = None,
    state_root: StateRoot = None,
    probe: Annotated[list[str] | None, typer.Option(
        "--probe", help="SERVICE/WORKLOAD[=ADDRESS]: ping the workload through its chain"
        " (with --lab the address defaults to the lab's service address). Repeatable.")
                     ] = None,
    probe_from: Annotated[str | None, typer.Option("--probe-from", help="The network namespace"
                                                   " the users attach in (default with --lab:"
                                                   " the lab's users').")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Default: the"
                                             " one the lab's Prometheus scrapes, else"
                                             f" {SENSE_PORT}.")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    every: Annotated[float, typer.Option("--every", min=0.5, max=3600, help="Seconds between"
                                         " two readings of the peers.")] = 5.0,
) -> None:
    """Serve tcra's metrics in Prometheus format at /metrics until interrupted."""
    from prometheus_client import CollectorRegistry, start_http_server

    from tcra.mco.store import Store
    from tcra.sense.metrics import Sensor
    from tcra.sense.probe import Prober

    state = lab_state(lab, state_root, "tcra sense serve")
    loaded, store_url = _sources(inventory, store, state, "tcra sense serve")
    targets = _targets(probe or [], probe_from, state)
    registry = CollectorRegistry()
    prober = Prober(targets) if targets else None
    # not migrated here: the endpoint comes up even when the store does not answer, and
    # marks its figures stale (tcra_sense_peer_up{peer="store"} 0) until it does
    sensor = Sensor(loaded, Store(store_url), prober, every=every).start()
    registry.register(sensor)
    listen = port or (state.monitor.sense_port if state and state.monitor else SENSE_PORT)
    server, _thread = start_http_server(listen, host, registry)
    print(f"tcra sense: metrics at http://{host}:{listen}/metrics", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        sensor.stop()


@sense_app.command("rules")
def rules(
    inventory: InventoryOption = None, store: StoreOption = None, lab: LabOption = None,
    state_root: StateRoot = None,
    out: Annotated[Path | None, typer.Option("--out", help="The rule file to write (default"
                                             " with --lab: the lab Prometheus' rules, which it"
                                             " then reloads; else standard output).")] = None,
    max_loss: Annotated[float, typer.Option("--max-loss", help="Share of a probe's pings a"
                                            " chain may lose.")] = 0.05,
    horizon: Annotated[int, typer.Option("--horizon", help="Seconds ahead a site's shortage"
                                         " is foreseen.")] = 4 * 3600,
) -> None:
    """Write the alert rules for what the store records as deployed."""
    from tcra.lab import monitor
    from tcra.mco.store import Store
    from tcra.sense.rules import RuleSettings, rule_file

    try:
        settings = RuleSettings(max_loss=max_loss, horizon_s=horizon)
    except ValidationError as exc:
        refuse(InvalidInputError(problems_from(exc, "tcra sense rules")))
    state = lab_state(lab, state_root, "tcra sense rules")
    _loaded, store_url = _sources(inventory, store, state, "tcra sense rules")
    database = Store(store_url)
    database.migrate()
    text = rule_file(database.running(), settings)
    target = out or (state.monitor.rules / "tcra.yml" if state and state.monitor else None)
    if target is None:
        print(text, end="")
        return
    target.write_text(text)
    print(f"tcra sense: rules written to {target}")
    if out is None and state is not None and state.monitor is not None:
        monitor.reload(state.monitor)
        print(f"tcra sense: Prometheus {state.monitor.prometheus_url} reloaded them")


@sense_app.command("picture")
def picture(
    probe: Annotated[str, typer.Argument(help="SERVICE/WORKLOAD: the probed workload.")],
    out: Annotated[Path, typer.Option("--out", help="The picture: .svg or .png.")],
    lab: LabOption = None, state_root: StateRoot = None,
    prometheus: Annotated[str | None, typer.Option("--prometheus", help="Prometheus' URL"
                                                   " (default with --lab: the lab's).")
                          ] = None,
    ca_bundle: Annotated[Path | None, typer.Option("--ca-bundle", help="CA bundle for an"
                                                   " https Prometheus (default: the"
                                                   " system's).")] = None,
    minutes: Annotated[float, typer.Option("--minutes", min=1, max=7 * 24 * 60, help="How"
                                           " far back.")] = 30,
    inventory: InventoryOption = None, store: StoreOption = None,
) -> None:
    """Draw the workload's measured round trip against its budget, with the alerts that
    fired, from what Prometheus recorded, and with the store (--store, --inventory or --lab)
    the actions' events."""
    import time

    from tcra.sense.picture import FORMATS, history, marks, render

    match = PROBE.match(probe)
    problems = []
    if match is None or match["address"] is not None:
        problems.append(Problem("tcra sense picture", "probe", "expected SERVICE/WORKLOAD",
                                probe))
    if out.suffix not in FORMATS:
        problems.append(Problem("tcra sense picture", "--out", "expected a file ending in"
                                f" {' or '.join(FORMATS)}", str(out)))
    state = lab_state(lab, state_root, "tcra sense picture")
    url = prometheus or (state.monitor.prometheus_url if state and state.monitor else None)
    if url is None or not url.startswith(("http://", "https://")):
        problems.append(Problem("tcra sense picture", "--prometheus", "expected an http(s)"
                                " URL (or --lab)", url))
    if problems:
        refuse(InvalidInputError(problems))
    assert match is not None and url is not None  # noqa: S101 - refused above otherwise
    end = time.time()
    seen = history(url, match["service"], match["workload"], end - minutes * 60, end,
                   ca_bundle=ca_bundle)
    if store or inventory or state:
        seen = seen.model_copy(update={"actions": marks(
            store_url(inventory, store, state, "tcra sense picture"), seen)})
    render(seen, out)
    print(f"tcra sense: {out}: {len(seen.rtt)} probes, {len(seen.alerts)} alert(s) fired,"
          f" {len(seen.actions)} action event(s)")


def _sources(inventory: Path | None, store: str | None, state: LabState | None,
             command: str) -> tuple[Inventory, str]:
    from tcra.inventory import load
    from tcra.mco.store import default_url

    path = inventory or (state.inventory if state else None)
    if path is None:
        refuse(InvalidInputError([Problem(command, "--inventory", "expected an inventory"
                                           " (or --lab)", None)]))
    try:
        loaded = load(path)
    except InvalidInputError as exc:
        refuse(exc)
    return loaded, store or loaded.store or default_url()


def _targets(probes: list[str], namespace: str | None, state: LabState | None
             ) -> tuple[ProbeTarget, ...]:
    from tcra.sense.probe import ProbeTarget

    fabric = state.fabric if state else None
    namespace = namespace or (fabric.user_namespace if fabric else None)
    problems: list[Problem] = []
    targets = []
    for i, text in enumerate(probes):
        match = PROBE.match(text)
        address = (match["address"] if match else None) or (
            fabric.service_address if fabric else None)
        if match is None or address is None or namespace is None:
            problems.append(Problem("tcra sense serve", f"--probe[{i}]", "expected"
                                    " SERVICE/WORKLOAD=ADDRESS and --probe-from NETNS (the"
                                    " address and namespace default only with --lab)", text))
            continue
        try:
            targets.append(ProbeTarget(service=match["service"], workload=match["workload"],
                                       namespace=namespace, address=address))
        except ValidationError as exc:
            problems += problems_from(exc, f"tcra sense serve: --probe[{i}]")
    if problems:
        refuse(InvalidInputError(problems))
    return tuple(targets)

"""The `tcra` command: validate inventories, print the schema, list hosts, place services,
list the workload inventory, give remote HBRs a chain's routes, run the lab, sense what runs."""

from __future__ import annotations

import gc
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from tcra.act.cli import actions_app
from tcra.cli_options import StateRoot, lab_spec
from tcra.errors import InvalidInputError, TcraError, problems_from
from tcra.inventory import load
from tcra.model import Inventory
from tcra.sense.cli import sense_app

if TYPE_CHECKING:
    from tcra.mco.model import Placement, ServiceRecord

M = TypeVar("M", bound=BaseModel)
app = typer.Typer(help="tcra: the Telco Cloud Reference Architecture as code.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
lab_app = typer.Typer(help="A whole telco cloud on this machine, with real protocol peers.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")
continuum_app = typer.Typer(help="Synthetic continuums for tests and benchmarks.",
                            no_args_is_help=True)
app.add_typer(continuum_app, name="continuum")
chain_app = typer.Typer(help="SRv6 service chains on host-based routers (HBRs).",
                        no_args_is_help=True)
app.add_typer(chain_app, name="chain")
app.add_typer(sense_app, name="sense")
app.add_typer(actions_app, name="actions")
# Piped output keeps whole lines (rich would otherwise wrap tables at 80 columns).
out = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True)

InventoryPath = Annotated[Path, typer.Argument(help="An Ansible inventory folder or file.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LabName = Annotated[str, typer.Option("--name", help="Lab name (prefix of all it makes).")]
LabWait = Annotated[float | None, typer.Option(
    "--wait", min=0, help="Seconds to wait while another lab command runs on this machine"
    " (default: 300, about 30 lab commands); 0 refuses at once.")]


@app.command()
def validate(inventory: InventoryPath) -> None:
    """Check an inventory against the model; every problem on its own line."""
    loaded = _load(inventory)
    out.print(f"{inventory}: valid, {len(loaded.sites)} site(s), {len(loaded.hosts)} host(s)")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the inventory model (sites and hosts)."""
    print(json.dumps(Inventory.model_json_schema(), indent=2))


@app.command()
def hosts(inventory: InventoryPath, as_json: AsJson = False, store: Annotated[
        str | None, typer.Option(help="MCO database URL: each host's role and the service"
                                 " that holds it (default: the inventory's tcra_store).")
        ] = None) -> None:
    """List the inventory's hosts with their live power state, read from each BMC, and with
    a store, the role each serves in and for which service."""
    loaded = _load(inventory)
    store = store or loaded.store
    from tcra.bmc import power_states  # sushy and requests: only for the command that asks

    held = _held(store) if store else {}
    readings = power_states(loaded.hosts)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") | ({"roles": held.get(r.host, [])}
                                                      if store else {})
                          for r in readings], indent=2))
    else:
        caps = {h.name: h.capabilities for h in loaded.hosts}
        columns = ("host", "site", "cores", "memory", "GPUs", "VFs", "BMC", "power")
        table = Table(*columns, *(("role", "owner") if store else ()))
        for r in readings:
            c = caps[r.host]
            roles = held.get(r.host, [])
            table.add_row(r.host, r.site, str(c.cores), str(c.memory), str(c.gpu_count),
                          str(c.sriov_vfs), r.bmc, r.power or f"[red]{r.error}[/red]",
                          *((", ".join(sorted({h["role"] for h in roles})) or "free",
                             ", ".join(h["service"] for h in roles) or "-") if store else ()))
        out.print(table)
    if any(r.error for r in readings):
        raise typer.Exit(1)


def _held(url: str) -> dict[str, list[dict[str, str]]]:
    """Per host, the roles services hold it in, as the MCO store records them."""
    from tcra.mco.store import Store  # SQLAlchemy and Alembic: only with a store

    database = Store(url)
    database.migrate()
    held: dict[str, list[dict[str, str]]] = {}
    for h in database.usage().hosts:
        held.setdefault(h.host, []).append({"role": h.role.value, "service": h.service})
    return held


@app.command()
def workloads(as_json: AsJson = False, store: Annotated[
        str | None, typer.Option(help="MCO database URL (default: the inventory's tcra_store,"
                                 " else the SQLite file under ~/.local/state/tcra).")] = None,
              inventory: Annotated[Path | None, typer.Option(
                  help="An inventory whose tcra_store to list.")] = None) -> None:
    """List the workload inventory (TCWI): per workload of each recorded service, where it
    runs, in which form, what was deployed for it, and the hosts its roles give it."""
    from tcra.mco.store import Store  # SQLAlchemy and Alembic: only for the command that asks

    database = Store(store or (_load(inventory).store if inventory else None))
    database.migrate()
    rows = [_workload_row(record, placement) for record in database.records()
            for placement in record.placements]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("service", "tenant", "workload", "site", "form", "deployed", "SID", "hosts")
    for row in rows:
        table.add_row(row["service"], row["tenant"], row["workload"], row["site"], row["form"],
                      _deployed_text(row["deployed"]), row["deployed"].get("sid") or "-",
                      ", ".join(row["hosts"]) or "-")
    out.print(table)


def _workload_row(record: ServiceRecord, placement: Placement) -> dict[str, Any]:
    made = next((d for d in record.deployed if d.workload == placement.workload), None)
    return {"service": record.service, "tenant": record.tenant,
            "workload": placement.workload, "site": placement.site,
            "form": placement.kind.value,
            "deployed": made.model_dump(mode="json", exclude={"workload"}, exclude_none=True)
            if made else {}, "hosts": list(record.hosts_of(placement.workload))}


def _deployed_text(made: dict[str, str]) -> str:
    """One cell: the release in its namespace on its cluster, the VM or the host."""
    parts = []
    if "release" in made:
        parts.append(f"release {made.get('namespace', '?')}/{made['release']}")
    if "cluster" in made:
        parts.append(f"on cluster {made['cluster']}")
    if "vm_uuid" in made:
        parts.append(f"VM {made['vm_uuid']}")
    if "host_serial" in made:
        parts.append(f"host serial {made['host_serial']}")
    return " ".join(parts) or "-"


@app.command()
def place(
    request: Annotated[Path, typer.Argument(help="A placement file: request, policy, what"
                                            " runs; or what `continuum generate` prints.")],
    inventory: Annotated[Path | None, typer.Option(
        help="The inventory whose sites to place on (unless the file has a repository).")] = None,
    explain: Annotated[bool, typer.Option(help="Why every other site was rejected.")] = False,
    mode: Annotated[str, typer.Option(help="auto, fast or exact.")] = "auto",
    store: Annotated[str | None, typer.Option(
        help="MCO database URL: what runs now (for stickiness); the plan is recorded.")] = None,
    live: Annotated[bool, typer.Option(
        help="With --inventory and --store: place beside what the live peers report in use"
             " (Redfish power, libvirt free memory, Kubernetes requests).")] = True,
    as_json: AsJson = False,
) -> None:
    """Place a service's workloads across the inventory's sites and explain the plan."""
    from tcra.mco.bulk import collector_paused
    from tcra.mco.model import PlacementInput

    if mode not in ("auto", "fast", "exact"):
        print(f"tcra place: mode: expected auto, fast or exact (got {mode!r})")
        raise typer.Exit(2)
    with collector_paused():
        given = _load_yaml_model(PlacementInput, request)
    if (inventory is None) == (given.repository is None):
        print(f"tcra place: --inventory: expected an inventory or a repository in {request},"
              " exactly one")
        raise typer.Exit(2)
    # The engine's numpy/scipy and the store's SQLAlchemy load only for input that is valid:
    # a bad file is refused in the time it takes to read it.
    from tcra.mco.engine import place as run
    from tcra.mco.hosts import place_on_hosts
    from tcra.mco.model import Usage
    from tcra.mco.report import render

    database = None
    if store:
        from tcra.mco.store import Store  # SQLAlchemy and Alembic: only with a store

        database = Store(store)
        database.migrate()
    taken = database.usage() if database else Usage()
    try:
        if inventory is not None:  # down to the host, beside what other services hold
            sites = _load(inventory)
            reading = None
            if database and live:  # records tell the service's own use from others'
                from tcra.mco.live import read  # libvirt, sushy: only to read the peers

                reading = read(sites)
            plan = place_on_hosts(
                given.request, given.policy, sites, clusters=given.clusters,
                running=taken.of(given.request.name) if database else given.placements,
                taken=taken, live=reading, mode=mode, explain=explain)  # type: ignore[arg-type]
        else:
            assert given.repository is not None  # noqa: S101 - checked above
            repository = given.repository if database is None else given.repository.model_copy(
                update={"placements": taken.of(given.request.name)})
            plan = run(given.request, given.policy, repository,
                       mode=mode, explain=explain)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        print("\n".join(exc.lines()))
        raise typer.Exit(1) from None
    if database:
        database.record_plan(plan, given.request)
    if as_json:
        print(plan.model_dump_json(indent=2))
    else:
        render(plan, sys.stdout, explain=explain)
    if plan.unplaced:
        raise typer.Exit(3)


VARS_HEADER = "# Written by `tcra chain vars`: the tcra.telco.hbr role's variables for chain {}\n"


@chain_app.command("vars")
def chain_vars(
    inventory: InventoryPath,
    chain: Annotated[Path, typer.Argument(help="A YAML file of one chain (tcra.model.Chain).")],
    host: Annotated[str | None, typer.Option(help="Only this HBR host's variables.")] = None,
    folder: Annotated[Path | None, typer.Option(
        "--out", help="Write <host>.yml files into this folder (e.g. a playbook's host_vars)"
        " instead of printing.")] = None,
    owner: Annotated[str | None, typer.Option(help="hbr_owner: who programs the routes"
                                              " (<project>/<stack>/<resource>@<identity>).")
                     ] = None,
) -> None:
    """Print the tcra.telco.hbr role's variables for each HBR the chain uses, from the same
    route computation SRv6Chain applies: for HBRs on remote hosts, programmed by Ansible."""
    import yaml

    from tcra.model.fabric import Chain
    from tcra.tcm.compute import compute
    from tcra.tcm.role_vars import role_vars

    loaded = _load(inventory)
    given = _load_yaml_model(Chain, chain)
    if loaded.fabric is None:
        print(f"tcra chain vars: {inventory}: tcra_fabric: missing; expected the HBRs and"
              " workload endpoints (variable tcra_fabric of group all)")
        raise typer.Exit(1)
    try:
        hosts = role_vars(loaded.fabric, compute(loaded.fabric, given), owner=owner)
    except InvalidInputError as exc:
        print("\n".join(exc.lines()))
        raise typer.Exit(1) from None
    if host is not None:
        if host not in hosts:
            print(f"tcra chain vars: --host: expected the host of an HBR chain {given.name}"
                  f" uses ({', '.join(hosts)}) (got {host!r})")
            raise typer.Exit(2)
        hosts = {host: hosts[host]}
    header = VARS_HEADER.format(given.name)
    if folder is None:
        text = yaml.safe_dump(hosts[host] if host else hosts, sort_keys=False)
        sys.stdout.write(header + text)
        return
    files = {folder / f"{name}.yml": values for name, values in hosts.items()}
    ours = VARS_HEADER.split(":")[0]
    theirs = [f for f in files if f.exists() and not f.read_text().startswith(ours)]
    if theirs:
        print(f"tcra chain vars: --out: {', '.join(map(str, theirs))} exist and were not"
              " written by tcra chain vars; expected a folder for its files")
        raise typer.Exit(2)
    folder.mkdir(parents=True, exist_ok=True)
    for file, values in files.items():
        file.write_text(header + yaml.safe_dump(values, sort_keys=False))
        print(f"wrote {file}")


@continuum_app.command("generate")
def continuum_generate(
    sites: Annotated[int, typer.Option(min=1, help="Number of sites.")] = 100,
    workloads: Annotated[int, typer.Option(min=1, help="Workloads in the request.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same continuum.")] = 0,
    load: Annotated[float, typer.Option(min=0.01, max=1.5,
                                        help="Demanded CPU as a share of free CPU.")] = 0.7,
) -> None:
    """Print a synthetic continuum (repository, request, policy) as JSON."""
    from tcra.mco.generate import generate

    print(generate(sites, workloads, seed=seed, load=load).model_dump_json())


@app.command()
def serve(
    inventory: Annotated[Path, typer.Option("--inventory", help="The sites to serve as edge"
                                            " cloud zones (an Ansible inventory).")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 9091,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    store: Annotated[str | None, typer.Option("--store", help="Database URL (default: the"
                                              " inventory's tcra_store).")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Accept tokens of this issuer"
                                               " (default: the inventory's tcra_api).")] = None,
    jwks_url: Annotated[str | None, typer.Option("--jwks-url", help="Where the issuer publishes"
                                                 " its keys (https).")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="Or the issuer's key"
                                                    " as a PEM file.")] = None,
    policies: Annotated[Path | None, typer.Option("--policies", help="YAML: tenant -> its MCO"
                                                  " policy (default: the default policy).")
                        ] = None,
    workers: Annotated[int, typer.Option("--workers", min=0, max=64, help="Instances deployed"
                                         " at once; 0: this server deploys none.")] = 2,
    state: Annotated[Path | None, typer.Option("--state", help="The instances' Pulumi work"
                                               " folders, file backend and passphrase"
                                               " (default: ~/.local/state/tcra/serve).")
                     ] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="The instances' Pulumi"
                                                " backend (default: file:// in --state;"
                                                " s3://..., https://api.pulumi.com).")] = None,
    sink_ca: Annotated[Path | None, typer.Option("--sink-ca", help="CA bundle to verify"
                                                 " notification sinks by (default: the"
                                                 " system's).")] = None,
) -> None:
    """Serve the CAMARA Edge Application Management API (docs/api.md)."""
    import uvicorn

    from tcra.api.app import create
    from tcra.api.auth import Verifier
    from tcra.api.deploy import Deployer, LeaseHeldError
    from tcra.api.notify import Notifier
    from tcra.api.policies import Policies
    from tcra.api.store import ApiStore
    from tcra.mco.store import default_url
    from tcra.model.inventory import ApiIssuer
    from tcra.state import state_home

    loaded = _load(inventory)
    try:
        trusted = (ApiIssuer(issuer=issuer or "", jwks_url=jwks_url, public_key=public_key)
                   if issuer or jwks_url or public_key else loaded.api)
        per_tenant = Policies(policies)
    except ValidationError as exc:
        print("\n".join(InvalidInputError(problems_from(exc, "tcra serve")).lines()))
        raise typer.Exit(2) from None
    except InvalidInputError as exc:
        print("\n".join(exc.lines()))
        raise typer.Exit(2) from None
    if trusted is None:
        print(f"tcra serve: no issuer to trust: give --issuer and --jwks-url, or set tcra_api"
              f" in {inventory}")
        raise typer.Exit(2)
    if workers and shutil.which("pulumi") is None:
        print("tcra serve: --workers: pulumi is not on PATH, so no instance could be deployed"
              " (PATH=$(scripts/build-pulumi):$PATH, or --workers 0)")
        raise typer.Exit(2)
    url = store or loaded.store or default_url()
    database = ApiStore(url)
    database.migrate()
    notifier = Notifier(database, sink_ca)
    deployer = Deployer(database, loaded, inventory.resolve(), url,
                        (state or state_home() / "serve").resolve(), per_tenant,
                        backend=backend, workers=workers, changed=notifier.changed,
                        ended=notifier.ended)
    try:
        deployer.resume()
    except LeaseHeldError as exc:
        print(f"tcra serve: --workers: {exc}")
        raise typer.Exit(2) from None
    app = create(loaded, database, Verifier(trusted), deployer, per_tenant)
    gc.freeze()  # the inventory and the bookings' models live as long as the server
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5,
                    limit_concurrency=256, h11_max_incomplete_event_size=16384)
    finally:
        deployer.close(wait=False)


@lab_app.command("up")
def lab_up(
    nodes: Annotated[int, typer.Option(help="Virtual bare-metal nodes.")] = 2,
    memory: Annotated[str, typer.Option(help="Memory per node, e.g. 64Mi.")] = "64Mi",
    vcpus: Annotated[int, typer.Option(help="vCPUs per node.")] = 1,
    disk: Annotated[str, typer.Option(help="Blank (sparse) disk per node, e.g. 1Gi.")] = "1Gi",
    bmc_port: Annotated[int, typer.Option(help="Redfish emulator port; 0 picks one.")] = 0,
    hugepages: Annotated[int, typer.Option(help="2 MiB hugepages reserved for VMs.")] = 256,
    inventory: Annotated[Path, typer.Option(help="Where to write the lab's inventory.")] = Path(
        "inventories/lab"),
    kubernetes: Annotated[bool, typer.Option(
        help="Run the Kubernetes management cluster with Cluster API (its programs are built"
        " from Go modules on first use, most of an hour on 2 cores).")] = True,
    name: LabName = "lab",
    state_root: StateRoot = None,
    wait: LabWait = None,
) -> None:
    """Start the lab (libvirtd, nodes, Redfish BMC, SRv6 fabric, a Kubernetes management
    cluster, Prometheus and Alertmanager) and write its inventory. Safe to re-run."""
    from tcra import lab

    spec = lab_spec("tcra lab", name=name, nodes=nodes, memory=memory, vcpus=vcpus, disk=disk,
                    bmc_port=bmc_port, hugepages=hugepages, inventory=inventory,
                    state_root=state_root, kubernetes=kubernetes)
    with err.status("lab up") as progress:
        state = lab.up(spec, report=lambda msg: progress.update(f"lab up: {msg}"),
                       wait=lab.WAIT if wait is None else wait,
                       waiting=lambda msg: err.print(f"lab {spec.name}: {msg}", highlight=False,
                                                   soft_wrap=True))
    assert state.bmc is not None  # noqa: S101 - up always serves a BMC
    out.print(f"lab [bold]{spec.name}[/bold] is up: {len(state.nodes)} node(s) behind the"
              f" Redfish BMC at {state.bmc.url}; inventory {state.inventory}")
    if state.kubernetes:
        out.print(f"management cluster (Cluster API) at {state.kubernetes.server}: kubeconfig"
                  f" {state.kubernetes.kubeconfig}")
    if state.monitor:
        out.print(f"Prometheus {state.monitor.prometheus_url} and Alertmanager"
                  f" {state.monitor.alertmanager_url}, scraping `tcra sense serve --lab"
                  f" {spec.name}` at 127.0.0.1:{state.monitor.sense_port}")


@lab_app.command("status")
def lab_status(as_json: AsJson = False, name: LabName = "lab",
               state_root: StateRoot = None) -> None:
    """Report what the lab runs: BMC URL, nodes and their power states."""
    from tcra import lab

    report = lab.status(lab_spec("tcra lab", name=name, state_root=state_root))
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    if not report.nodes and not report.running:
        out.print(f"lab {report.name} is not up")
        return
    out.print(f"lab {report.name}: BMC {report.bmc_url}"
              f" ({'answers' if report.bmc_answers else 'NOT answering'}),"
              f" libvirt {report.libvirt_uri}, inventory {report.inventory}")
    table = Table("node", "site", "system id", "power")
    for node in report.nodes:
        table.add_row(node.name, node.site, node.uuid, node.power)
    out.print(table)
    if report.kubernetes:
        total = sum(c.rss_mib for c in report.kubernetes_components)
        out.print(f"management cluster {report.kubernetes}: {total:.0f} MiB RSS in all")
        components = Table("component", "pid", "ready", "RSS MiB")
        for c in report.kubernetes_components:
            components.add_row(c.name, str(c.pid), "yes" if c.ready else
                               ("NOT ready" if c.running else "NOT running"), f"{c.rss_mib:.0f}")
        out.print(components)
    if report.prometheus:
        out.print(f"monitoring: Prometheus {report.prometheus}, Alertmanager"
                  f" {report.alertmanager}, scraping tcra at {report.sense}")


@lab_app.command("token")
def lab_token(tenant: Annotated[str, typer.Option("--tenant", help="The application provider"
                                                  " the token speaks for.")],
              name: LabName = "lab", state_root: StateRoot = None,
              lifetime: Annotated[int, typer.Option("--lifetime", min=60, max=86400,
                                                    help="Seconds it is valid.")] = 3600,
              ) -> None:
    """Print a bearer token for `tcra serve` on this lab, signed by the lab's key, with every
    scope of the API."""
    from tcra.api.auth import token
    from tcra.lab.issuer import issuer, signing_key

    spec = lab_spec("tcra lab", name=name, state_root=state_root)
    print(token(signing_key(spec), issuer(spec).issuer, tenant, lifetime_s=lifetime))


@lab_app.command("impair")
def lab_impair(
    link: Annotated[str, typer.Option("--link", help="underlay (between the sites' HBRs) or"
                                      " users (the users' access link).")] = "underlay",
    down: Annotated[bool, typer.Option("--down", help="Take it down instead of congesting"
                                       " it.")] = False,
    rate: Annotated[int, typer.Option("--rate", help="Congest: the link's capped rate in"
                                      " kbit/s, filled twice over by a background flow.")
                    ] = 1000,
    name: LabName = "lab", state_root: StateRoot = None) -> None:
    """Congest a link of the lab's fabric (tbf and a background flow: real queueing delay),
    or take it down; `tcra lab repair` undoes it (docs/lab.md)."""
    from tcra.lab import impair
    from tcra.lab.spec import load_state

    spec = lab_spec("tcra lab", name=name, state_root=state_root)
    state = load_state(spec)
    if state is None or state.fabric is None:
        print(f"tcra lab impair: lab {name} is not up (tcra lab up)")
        raise typer.Exit(1)
    try:
        done = impair.impair(spec, state.fabric, link, "down" if down else "congest", rate)
    except InvalidInputError as exc:
        print("\n".join(exc.lines()))
        raise typer.Exit(2) from None
    out.print(f"lab {name}: {done.link} " + ("down" if done.kind == "down" else
                                            f"congested at {done.rate_kbit} kbit/s"))


@lab_app.command("repair")
def lab_repair(
    link: Annotated[str | None, typer.Option("--link", help="The link to repair (default:"
                                             " every impaired one).")] = None,
    name: LabName = "lab", state_root: StateRoot = None) -> None:
    """Undo what `tcra lab impair` did."""
    from tcra.lab import impair

    undone = impair.repair(lab_spec("tcra lab", name=name, state_root=state_root), link)
    out.print(f"lab {name}: " + (", ".join(f"{i.link} repaired" for i in undone)
                                 or "nothing impaired"))


@lab_app.command("down")
def lab_down(name: LabName = "lab", state_root: StateRoot = None,
             wait: LabWait = None) -> None:
    """Stop and remove everything the lab made, and name what it left. Safe to run twice."""
    from tcra import lab

    with err.status("lab down") as progress:
        notes = lab.down(lab_spec("tcra lab", name=name, state_root=state_root),
                         report=lambda msg: progress.update(f"lab down: {msg}"),
                         wait=lab.WAIT if wait is None else wait,
                         waiting=lambda msg: err.print(f"lab {name}: {msg}", highlight=False,
                                                     soft_wrap=True))
    for note in notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    out.print(f"lab {name} is down")


def _load(path: Path) -> Inventory:
    try:
        return load(path)
    except InvalidInputError as exc:
        print("\n".join(exc.lines()))
        raise typer.Exit(1) from None


def _load_yaml_model(model: type[M], path: Path) -> M:
    """A YAML (or JSON) file validated into `model`; problems printed one per line, exit 1."""
    from tcra import yamlsafe

    try:
        data = yamlsafe.load(path)
    except yamlsafe.UnsafeInputError as exc:
        print(exc)
        raise typer.Exit(1) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        print("\n".join(InvalidInputError(problems_from(exc, str(path))).lines()))
        raise typer.Exit(1) from None


def main() -> None:
    try:
        app()
    except TcraError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)  # one line
        sys.exit(1)

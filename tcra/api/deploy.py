"""Carrying out app instances outside the request: worker threads, each running one instance's
Pulumi stack (Automation API, a local program: tcra.blueprints.edge_app) in its own `pulumi`
process, on a file backend in the server's state folder unless a shared one is given.

The store is the truth of where each instance is. An instance a worker was carrying out when
it died is still `instantiating` (or `terminating`) there; a restarted server resumes it: its
stack's lock released, refreshed with interrupted creates cleared, then `up` again (or
`destroy`). Each start counts an attempt, so an instance that keeps killing its worker ends
`failed` with the reason, never `instantiating` forever."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from tcra.api import catalog, endpoints
from tcra.api.schemas import AppManifest
from tcra.api.store import ApiStore, DeploymentRow, InstanceRow
from tcra.errors import TcraError
from tcra.mcm.chart import trust_env
from tcra.mco.model import Policy
from tcra.mco.store import StoreError
from tcra.model.inventory import Inventory

PROJECT = "tcra-edge-app"
PROGRAM = "from tcra.blueprints.edge_app import main\n\nmain()\n"
MAX_ATTEMPTS = 3
LEASE, LEASE_S = "workers", 15  # renewed every LEASE_S / 3
RELEASE = "kubernetes:helm.sh/v3:Release"
REASON_LIMIT = 1024
log = logging.getLogger("tcra.api.deploy")


class LeaseHeldError(TcraError):
    """Another server's workers deploy from this store."""

    def __init__(self, holder: str, until_ms: int) -> None:
        until = datetime.fromtimestamp(until_ms / 1000, UTC).isoformat(timespec="seconds")
        super().__init__(f"another server's workers deploy from this store ({holder}, its"
                         f" lease renewed until {until}): stop it, or give --workers 0")


class Deployer:
    def __init__(self, store: ApiStore, inventory: Inventory, inventory_path: Path,
                 store_url: str, state: Path, policies: Callable[[str], Policy],
                 backend: str | None = None, workers: int = 2,
                 changed: Callable[[InstanceRow, bool], None] | None = None,
                 ended: Callable[[DeploymentRow], None] | None = None) -> None:
        """`changed(row, gone)`: told each new status, and when the instance is gone;
        `ended(deployment)`: told when a deployment went with its last instance."""
        self.store, self.inventory, self.inventory_path = store, inventory, inventory_path
        self.store_url, self.state, self.policies = store_url, state, policies
        self.backend = backend or f"file://{state / 'pulumi'}"
        self.changed = changed or (lambda _row, _gone: None)
        self.ended = ended or (lambda _deployment: None)
        self._pool = (ThreadPoolExecutor(workers, thread_name_prefix="tcra-deploy")
                      if workers else None)
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._held = threading.Event()  # the lease is this server's
        self._closing = threading.Event()

    def resume(self) -> None:
        """With workers: the store's lease taken (one deploying server per store, so no two
        resume the same instance; LeaseHeldError otherwise) and kept, then what a worker of
        an earlier server left unfinished taken up."""
        if self._pool is None:
            return
        lease = self.store.take_lease(LEASE, self.holder, LEASE_S)
        if lease.holder != self.holder and _dead(lease.holder):
            lease = self.store.take_lease(LEASE, self.holder, LEASE_S, dead=lease.holder)
        if lease.holder != self.holder:
            raise LeaseHeldError(lease.holder, lease.expires_ms)
        self._held.set()
        threading.Thread(target=self._keep_lease, name="tcra-lease", daemon=True).start()
        for row in self.store.instances(statuses=("instantiating", "terminating")):
            self.start(row.instance_id)

    def _renew(self) -> None:
        held = self.store.take_lease(LEASE, self.holder, LEASE_S).holder == self.holder
        if held:
            self._held.set()
        elif self._held.is_set():
            log.error("the workers' lease went to another server: no new deployments here")
            self._held.clear()

    def _keep_lease(self) -> None:
        while not self._closing.wait(LEASE_S / 3):
            try:
                self._renew()
            except StoreError:
                log.exception("renewing the workers' lease")

    def start(self, instance_id: str) -> None:
        """Carry the instance towards what its status asks, in a worker; once at a time.
        Without workers, a server with some resumes it when it starts."""
        if self._pool is None or not self._held.is_set():
            return
        with self._lock:
            if instance_id in self._busy:
                return
            self._busy.add(instance_id)
        self._pool.submit(self._work, instance_id)

    def close(self, wait: bool = True) -> None:
        self._closing.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
        if self._held.is_set():
            self.store.release_lease(LEASE, self.holder)

    def _work(self, instance_id: str) -> None:
        try:
            row = self.store.instance(instance_id)
            if row is None:
                return
            if row.status == "terminating":
                self._terminate(row)
            elif row.status == "instantiating":
                self._instantiate(row)
        except Exception:  # a worker never dies silently: the instance says why
            log.exception("instance %s", instance_id)
            self._set(instance_id, status="failed", reason="internal error in tcra's worker")
        finally:
            with self._lock:
                self._busy.discard(instance_id)

    def _instantiate(self, row: InstanceRow) -> None:
        attempts = row.attempts + 1
        if attempts > MAX_ATTEMPTS:
            self._set(row.instance_id, status="failed", reason=f"its deployment was"
                      f" interrupted {row.attempts} times")
            return
        self._set(row.instance_id, attempts=attempts)
        try:
            stack = self._stack(row)
            if attempts > 1:  # a worker died in it: what the stack holds is read again
                _resumed(stack)
            result = stack.up(color="never", on_output=_quiet)
        except auto.CommandError as exc:
            self._set(row.instance_id, status="failed", reason=_reason(exc))
            return
        made = result.outputs.get("endpoints")
        found = endpoints.access(AppManifest.model_validate(row.manifest),
                                 row.placement["workload"], made.value if made else {})
        self._set(row.instance_id, status="ready", reason=None, endpoints=found)

    def _terminate(self, row: InstanceRow) -> None:
        try:
            stack = self._stack(row)
            if row.attempts:
                _resumed(stack)
            stack.destroy(color="never", on_output=_quiet)
            stack.workspace.remove_stack(row.stack)
        except auto.CommandError as exc:
            self._set(row.instance_id, status="failed", reason=f"removal: {_reason(exc)}")
            return
        shutil.rmtree(self._work_dir(row), ignore_errors=True)
        deployment = self.store.remove_instance(row.instance_id)
        self.changed(row, True)
        if deployment is not None:
            self.ended(deployment)

    def _set(self, instance_id: str, **changes: Any) -> None:
        row = self.store.update_instance(instance_id, **changes)
        if row is not None and "status" in changes:
            self.changed(row, False)

    def _work_dir(self, row: InstanceRow) -> Path:
        return self.state / "work" / row.instance_id

    def _stack(self, row: InstanceRow) -> auto.Stack:
        work = self._work_dir(row)
        work.mkdir(parents=True, exist_ok=True)
        if self.backend.startswith("file://"):
            Path(self.backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        (work / "__main__.py").write_text(PROGRAM)
        venv = str(Path(sys.executable).parent)
        cluster = self.inventory.site(row.site).cluster
        trust = (trust_env(cluster.registry_ca.parent)  # the engine pulls oci:// charts
                 if cluster is not None and cluster.registry_ca is not None else {})
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work), pulumi_home=str(self.state / "pulumi-home"),
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python",
                backend=auto.ProjectBackend(url=self.backend)),
            env_vars={"PULUMI_CONFIG_PASSPHRASE_FILE": str(self._passphrase()),
                      "PULUMI_SKIP_UPDATE_CHECK": "true",
                      # the language host finds the program's Python through PATH alone
                      "PATH": f"{venv}{os.pathsep}{os.environ.get('PATH', '')}", **trust})
        stack = auto.create_or_select_stack(row.stack, work_dir=str(work), opts=options)
        stack.set_all_config({key: auto.ConfigValue(value) for key, value in
                              self._config(row).items()})
        return stack

    def _config(self, row: InstanceRow) -> dict[str, str]:
        """The instance as the program reads it (tcra.blueprints.edge_app.EdgeAppStack)."""
        manifest = AppManifest.model_validate(row.manifest)
        policy = self.policies(row.tenant)
        config: dict[str, Any] = {
            "inventory": str(self.inventory_path), "store_url": self.store_url,
            "service": row.placement["service"], "site": row.site,
            "app": catalog.entry(manifest, row.placement["workload"]).model_dump(mode="json"),
            "policy": policy.model_dump(mode="json")}
        volume = catalog.base_image(manifest)
        if volume is not None and self.inventory.vm_platform is not None:
            config["vm_platform"] = self.inventory.vm_platform.model_copy(
                update={"base_image": volume}).model_dump(mode="json")
        return {key: value if isinstance(value, str) else json.dumps(value)
                for key, value in config.items()}

    def _passphrase(self) -> Path:
        """The stacks' secrets passphrase: made once, kept in the state folder (0600)."""
        path = self.state / "passphrase"
        if not path.exists():
            self.state.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(32))
        return path


def _dead(holder: str) -> bool:
    """A holder that was a process of this machine, gone: its lease need not run out."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _resumed(stack: auto.Stack) -> None:
    """A stack a dead worker was changing, made current: its lock released (the store says no
    one else has it), everything it holds read again with the creates it had begun cleared,
    and a Helm release among those that exists taken into the stack by its namespace/name
    and uninstalled, so `up` installs it afresh instead of failing on a name in use (or
    leaving it behind)."""
    try:
        stack.cancel()
    except auto.CommandError:
        log.info("stack %s: no lock to release", stack.name)
    pending = (stack.export_stack().deployment or {}).get("pending_operations") or []
    stack.refresh(clear_pending_creates=True, color="never", on_output=_quiet)
    for operation in pending:
        resource = operation.get("resource", {})
        inputs = resource.get("inputs", {})
        if (operation.get("type") != "creating" or resource.get("type") != RELEASE
                or not isinstance(inputs.get("name"), str)):
            continue
        table = {"parent": resource["parent"],
                 "provider": resource["provider"].rsplit("::", 1)[0]}
        adopted = {"type": RELEASE, "name": resource["urn"].rsplit("::", 1)[-1],
                   "id": f"{inputs.get('namespace') or 'default'}/{inputs['name']}",
                   "parent": "parent", "provider": "provider"}
        try:
            stack.import_resources(resources=[adopted],  # type: ignore[list-item]
                                   name_table=table, generate_code=False, protect=False,
                                   on_output=_quiet)
        except auto.CommandError:
            log.info("stack %s: release %s was not installed yet", stack.name,
                     inputs["name"])
            continue
        # Halfway installed (Helm left it pending-install, which no upgrade may touch):
        # uninstalled, so `up` installs it afresh.
        stack.destroy(target=[resource["urn"]], color="never", on_output=_quiet)


def _reason(exc: auto.CommandError) -> str:
    """Pulumi's own diagnosis, the lines that say what failed."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines()
             if line.strip().startswith(("error:", "*", "cannot", "stderr:")) or "failed" in line]
    return (" ".join(lines) or text)[-REASON_LIMIT:]


def _quiet(_: str) -> None:
    pass

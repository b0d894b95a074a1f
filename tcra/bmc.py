"""Talking Redfish to a host's BMC: one session per call, bounded in time, errors that name it.

Stateless, so providers (which Pulumi pickles) and the CLI use it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sushy
from pydantic import Field, SecretStr
from sushy import exceptions as sushy_errors

from tcra.errors import TcraError
from tcra.model import Host
from tcra.model.base import Model
from tcra.model.host import BmcAuth
from tcra.secrets import SecretUnavailableError, resolve

ATTEMPTS = 3
_AUTH = {"auto": sushy.auth.SessionOrBasicAuth, "session": sushy.auth.SessionAuth,
         "basic": sushy.auth.BasicAuth}
BACKOFF = 0.5
T = TypeVar("T")


class BmcTarget(Model):
    """Everything needed to open one Redfish session; the password stays a SecretStr."""

    host: str = Field(description="Host name, used in every message.")
    address: str
    username: str
    password: SecretStr
    verify: bool | str = True
    auth: BmcAuth = "auto"
    timeout: float = Field(default=15.0, gt=0, description="Seconds for any one BMC request.")


class BmcError(TcraError):
    """A BMC call failed; says which host, which BMC URL and why."""

    def __init__(self, target: BmcTarget, cause: str) -> None:
        self.host = target.host
        self.url = target.address
        super().__init__(f"host {target.host}: BMC {target.address}: {cause}")


class BmcAccessError(BmcError):
    """Wrong credentials: retrying cannot help."""


class SystemNotFoundError(BmcError):
    """The BMC answers but has no such system."""


class PowerReading(Model):
    host: str
    site: str
    bmc: str
    power: str | None = None
    error: str | None = None


def target_of(host: Host, timeout: float = 15.0) -> BmcTarget:
    """A session target for an inventory host, resolving its password reference now."""
    bmc = host.bmc
    partial = {"host": host.name, "address": bmc.address, "username": bmc.credentials.username,
               "verify": str(bmc.ca_bundle) if bmc.ca_bundle else bmc.verify_tls,
               "auth": bmc.auth, "timeout": timeout}
    try:
        password = resolve(bmc.credentials.password)
    except SecretUnavailableError as exc:
        raise BmcError(BmcTarget(**partial, password=SecretStr("")), str(exc)) from None
    return BmcTarget(**partial, password=SecretStr(password))


def call(target: BmcTarget, action: Callable[[sushy.main.Sushy], T]) -> T:
    """Run `action` on a fresh session; retry connection errors and 5xx with backoff."""
    password = target.password.get_secret_value()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # The auth object logs the Redfish session out when the block ends. sushy's own
            # retries are off (1 = a single try): this loop is the one place that retries.
            with _AUTH[target.auth](target.username, password) as auth:
                root = sushy.Sushy(target.address, auth=auth, verify=target.verify,
                                   connect_timeout=target.timeout, read_timeout=target.timeout,
                                   server_side_retries=1, server_side_retries_delay=0.01)
                return action(root)
        except sushy_errors.AccessError as exc:
            raise BmcAccessError(target, f"access denied (HTTP {exc.status_code}) for user"
                                 f" {target.username!r}: check the credentials") from None
        except sushy_errors.ResourceNotFoundError as exc:
            raise SystemNotFoundError(target, _first_line(exc)) from None
        except (sushy_errors.ConnectionError, sushy_errors.ServerSideError) as exc:
            if attempt == ATTEMPTS:
                raise BmcError(target, f"no usable answer after {ATTEMPTS} attempts"
                               f" ({target.timeout:g}s each): {_first_line(exc)}") from None
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        except sushy_errors.SushyError as exc:
            raise BmcError(target, _first_line(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def system_path(root: sushy.main.Sushy, system_id: str) -> str:
    """The system's URL path, from the service root's Systems link (no extra request)."""
    collection = root.json.get("Systems", {}).get("@odata.id") or "/redfish/v1/Systems"
    return f"{collection.rstrip('/')}/{system_id}"


def power_state(host: Host) -> str:
    def read(root: sushy.main.Sushy) -> str:
        return str(root.get_system(system_path(root, host.bmc.system_id)).power_state.value)

    return call(target_of(host), read)


def power_states(hosts: Iterable[Host], workers: int = 16) -> list[PowerReading]:
    """Read every host's power state in parallel; one unreachable BMC does not stop the rest."""

    def reading(host: Host) -> PowerReading:
        base = {"host": host.name, "site": host.site, "bmc": host.bmc.address}
        try:
            return PowerReading(**base, power=power_state(host))
        except BmcError as exc:
            return PowerReading(**base, error=str(exc))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(reading, hosts))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

"""Talking Redfish to a host's BMC: one session per call, bounded in time, errors that name it.

Kept free of state so that providers (which Pulumi pickles) and the CLI use it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sushy
from sushy import exceptions as sushy_errors

from tcra.errors import TcraError
from tcra.model import Host
from tcra.model.base import Model
from tcra.secrets import SecretUnavailableError, resolve

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
ATTEMPTS = 3
BACKOFF = 0.5
T = TypeVar("T")


class BmcError(TcraError):
    """A BMC call failed; says which host, which BMC URL and why."""

    def __init__(self, host: Host, cause: str) -> None:
        self.host = host.name
        self.url = host.bmc.address
        super().__init__(f"host {host.name}: BMC {host.bmc.address}: {cause}")


class PowerReading(Model):
    host: str
    site: str
    bmc: str
    power: str | None = None
    error: str | None = None


def call(host: Host, action: Callable[[sushy.main.Sushy], T]) -> T:
    """Run `action` on a fresh session; retry connection errors and 5xx with backoff."""
    try:
        password = resolve(host.bmc.credentials.password)
    except SecretUnavailableError as exc:
        raise BmcError(host, str(exc)) from None
    username = host.bmc.credentials.username
    verify = str(host.bmc.ca_bundle) if host.bmc.ca_bundle else host.bmc.verify_tls
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # The auth object logs the Redfish session out when the block ends.
            with sushy.auth.SessionOrBasicAuth(username, password) as auth:
                root = sushy.Sushy(host.bmc.address, auth=auth, verify=verify,
                                   connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                                   server_side_retries=0)
                return action(root)
        except sushy_errors.AccessError as exc:
            raise BmcError(host, f"access denied (HTTP {exc.status_code}): check the"
                           f" credentials {host.bmc.credentials.password}") from None
        except sushy_errors.ResourceNotFoundError:
            raise BmcError(host, f"no system {host.bmc.system_id!r} on this BMC") from None
        except (sushy_errors.ConnectionError, sushy_errors.ServerSideError) as exc:
            if attempt == ATTEMPTS:
                raise BmcError(host, f"unreachable after {ATTEMPTS} attempts: "
                               f"{_first_line(exc)}") from None
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        except sushy_errors.SushyError as exc:
            raise BmcError(host, _first_line(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def power_state(host: Host) -> str:
    def read(root: sushy.main.Sushy) -> str:
        system = root.get_system(f"{root.get_system_collection().path}/{host.bmc.system_id}")
        return str(system.power_state.value)

    return call(host, read)


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

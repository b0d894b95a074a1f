"""Talking Redfish to a host's BMC: one session per unit of work, bounded in time, errors that
name it. Reads are retried; writes go out once, and an unanswered write is the caller's to decide
from the system's state (ironic's rule: never repeat an action blindly).

Stateless, so providers (which Pulumi pickles) and the CLI use it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
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


class BmcTlsError(BmcError):
    """The TLS handshake failed (certificate, CA bundle, protocol): retrying cannot help."""


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


class _Connector(sushy.connector.Connector):  # type: ignore[misc]
    """sushy's connector with its own retries off, so tcra's policy is the only one.

    sushy tries a request `server_side_retries` times on a connection error (3 when 0, POSTs
    included) and repeats a GET answered 5xx `server_side_retries_left` more times. Built with
    server_side_retries=1 and called with no retries left, each request goes out exactly once.
    """

    def _op(self, method: str, path: str = "", data: Any = None, headers: Any = None,
            blocking: bool = False, timeout: Any = None, server_side_retries_left: Any = None,
            allow_reauth: bool = True, **kwargs: Any) -> Any:
        return super()._op(method, path, data=data, headers=headers, blocking=blocking,
                           timeout=timeout, server_side_retries_left=0,
                           allow_reauth=allow_reauth, **kwargs)


class Unanswered(Exception):  # noqa: N818 - an outcome, not a failure: the caller decides
    """A write got a 5xx or no answer: it may or may not have been carried out."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(cause)


class Session:
    """One logged-in Redfish session: the unit of work's reads are retried, writes are not."""

    def __init__(self, target: BmcTarget, root: sushy.main.Sushy) -> None:
        self.target = target
        self.root = root

    def read(self, step: Callable[[sushy.main.Sushy], T]) -> T:
        """Run a step made only of GETs; connection errors and 5xx repeat it with backoff."""
        return _retried(self.target, lambda: step(self.root))

    def write(self, step: Callable[[sushy.main.Sushy], object]) -> None:
        """Send a write once. Unanswered (5xx, dropped) means: re-read and decide from state."""
        with _translated(self.target):
            step(self.root)


@contextmanager
def session(target: BmcTarget) -> Iterator[Session]:
    """One session for a unit of work; logged out when the block ends, whatever happened."""
    # The auth object logs the Redfish session out when the block ends.
    with _AUTH[target.auth](target.username, target.password.get_secret_value()) as auth:
        yield Session(target, _login(target, auth))


def _login(target: BmcTarget, auth: Any) -> sushy.main.Sushy:
    """Read the service root and log in; retried, as a login changes nothing on the system."""

    def login() -> sushy.main.Sushy:
        connector = _Connector(target.address, verify=target.verify, server_side_retries=1,
                               server_side_retries_delay=0,
                               default_request_timeout=target.timeout,
                               connect_timeout=target.timeout)
        return sushy.Sushy(target.address, auth=auth, verify=target.verify, connector=connector)

    return _retried(target, login)


def _retried(target: BmcTarget, step: Callable[[], T]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with _translated(target):
                return step()
        except Unanswered as exc:
            if attempt == ATTEMPTS:
                raise BmcError(target, f"no usable answer after {ATTEMPTS} attempts"
                               f" ({target.timeout:g}s each): {exc.cause}") from None
            time.sleep(BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def call(target: BmcTarget, action: Callable[[sushy.main.Sushy], T]) -> T:
    """Run a read-only `action` on its own session."""
    with session(target) as bmc:
        return bmc.read(action)


@contextmanager
def _translated(target: BmcTarget) -> Iterator[None]:
    """sushy's errors as tcra's: named, one line, the password never in them."""
    try:
        yield
    except sushy_errors.AccessError as exc:
        raise BmcAccessError(target, f"access denied (HTTP {exc.status_code}) for user"
                             f" {target.username!r}: check the credentials") from None
    except sushy_errors.ResourceNotFoundError as exc:
        raise SystemNotFoundError(target, _first_line(exc)) from None
    except sushy_errors.ConnectionError as exc:
        if isinstance(exc.__context__, requests.exceptions.SSLError):
            raise BmcTlsError(target, f"TLS failed, check the certificate, ca_bundle or"
                              f" verify_tls: {_tls_reason(exc.__context__)}") from None
        raise Unanswered(_first_line(exc)) from None
    except sushy_errors.ServerSideError as exc:
        raise Unanswered(_first_line(exc)) from None
    except sushy_errors.SushyError as exc:
        raise BmcError(target, _first_line(exc)) from None
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        # a body that is not JSON, or JSON without the shape Redfish gives (sushy reads it lazily)
        raise BmcError(target, f"the answer is not the Redfish expected ({type(exc).__name__}:"
                               f" {_first_line(exc)[:200]})") from None


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("certificate verify failed", "wrong version number", "hostname mismatch"):
        if marker in text:
            return text[text.index(marker):].split(")")[0].split("'")[0]
    return _first_line(exc)[:200]


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

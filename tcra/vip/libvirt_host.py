"""Talking to one hypervisor's libvirtd: a connection per call, bounded in time, errors that
name the VM, the URI and the cause. Stateless, so the provider (which Pulumi pickles), the
component and the benchmark use it the same way."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TypeVar

import libvirt

from tcra.errors import TcraError

ATTEMPTS = 3
BACKOFF = 0.5
KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 3  # a silent remote daemon fails calls in ~20 s
# Errors of the connection, not of the request: worth another attempt.
TRANSIENT = frozenset({libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC,
                       libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_OPERATION_TIMEOUT})
T = TypeVar("T")


class VipError(TcraError):
    """A hypervisor call failed; says which VM, which libvirt URI and why."""

    def __init__(self, vm: str, uri: str, cause: str) -> None:
        self.vm = vm
        self.uri = uri
        self.cause = cause
        super().__init__(f"VM {vm}: libvirt {uri}: {cause}")


class UnreachableError(VipError):
    """libvirtd did not answer: nothing was asked, nothing changed."""


def quiet() -> None:
    """libvirt prints every error to stderr besides raising it; raising is enough."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


@contextmanager
def connection(vm: str, uri: str, timeout: float, read_only: bool = False
               ) -> Iterator[libvirt.virConnect]:
    """Open, use, always close. Connection errors retry with backoff; the open is bounded by
    `timeout` (libvirt has no connect timeout of its own), later calls by keepalives."""
    quiet()
    opener = libvirt.openReadOnly if read_only else libvirt.open
    conn = _with_retries(vm, uri, lambda: _bounded(vm, uri, timeout, lambda: opener(uri)))
    try:
        if "+" in uri.split(":", 1)[0]:  # remote transports only; local ones refuse keepalive
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        yield conn
    except libvirt.libvirtError as exc:
        raise VipError(vm, uri, exc.get_error_message() or str(exc)) from None
    finally:
        conn.close()


def _bounded(vm: str, uri: str, timeout: float, opening: Callable[[], T]) -> T:
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(opening).result(timeout=timeout)
    except FutureTimeout:
        raise UnreachableError(vm, uri, f"no answer within {timeout:.0f}s") from None
    finally:
        pool.shutdown(wait=False)


def _with_retries(vm: str, uri: str, attempt: Callable[[], T]) -> T:
    for number in range(1, ATTEMPTS + 1):
        try:
            return attempt()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in TRANSIENT or number == ATTEMPTS:
                raise UnreachableError(vm, uri, exc.get_error_message() or str(exc)) from None
        time.sleep(BACKOFF * 2 ** (number - 1))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def missing(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_VOL,
                                    libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_NETWORK,
                                    libvirt.VIR_ERR_NO_NODE_DEVICE)


def find(lookup: Callable[[], T]) -> T | None:
    """What a libvirt lookup returns, or None when the object does not exist."""
    try:
        return lookup()
    except libvirt.libvirtError as exc:
        if missing(exc):
            return None
        raise


def lookup_domain(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    return find(lambda: conn.lookupByName(name))


def lookup_volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    return find(lambda: pool.storageVolLookupByName(name))


def upload_volume(conn: libvirt.virConnect, pool: libvirt.virStoragePool, name: str,
                  data: bytes, capacity: int | None = None) -> None:
    """A new raw volume holding `data` at its start, streamed through libvirtd (so it works on
    a remote hypervisor too); `capacity` defaults to the data's length."""
    xml = ET.Element("volume")
    ET.SubElement(xml, "name").text = name
    ET.SubElement(xml, "capacity", unit="bytes").text = str(capacity or len(data))
    ET.SubElement(ET.SubElement(xml, "target"), "format", type="raw")
    volume = pool.createXML(ET.tostring(xml, encoding="unicode"), 0)
    stream = conn.newStream(0)
    volume.upload(stream, 0, len(data), 0)
    stream.send(data)
    stream.finish()


def volume_format(volume: libvirt.virStorageVol) -> str:
    element = ET.fromstring(volume.XMLDesc(0)).find("target/format")  # noqa: S314 - libvirtd's
    return element.get("type", "raw") if element is not None else "raw"

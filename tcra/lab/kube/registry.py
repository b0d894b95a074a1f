"""The lab's image and chart registry: Debian's `docker-registry` (CNCF distribution) on
127.0.0.1, serving TLS with a certificate from the lab's Kubernetes CA, as an operator's private
registry would. Its config and its storage are in the folder the lab gives it, which goes with
`tcra lab down`.

The port is fixed: catalogs and charts name images as 127.0.0.1:5443/..., and only one lab per
machine runs Kubernetes anyway.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tcra.lab import tls
from tcra.lab.kube import pki
from tcra.lab.processes import LabError, alive, start_ready, stop, wait_until
from tcra.lab.spec import Component

PROGRAM = "/usr/bin/docker-registry"
REGISTRY_PORT = 5443
ADDRESS = f"{pki.HOST}:{REGISTRY_PORT}"
URL = f"https://{ADDRESS}"
HEALTH = f"{URL}/v2/"
START_TIMEOUT = 30.0
PROBE_TIMEOUT = 3.0
# What a client sends to read a manifest: OCI first (buildah and helm push OCI), Docker's too.
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


def ensure(folder: Path, keys: pki.Pki, current: Component | None = None) -> Component:
    """A running registry: `current` while it answers, otherwise started anew on the same
    storage (what was pushed before stays)."""
    if current and alive(current.process) and ready(keys.ca.certificate):
        return current
    if current:
        stop_registry(current)
    if _taken():
        raise LabError(f"{ADDRESS} is taken, most likely by another lab's registry: the lab's"
                       " registry has a fixed port, named by the catalogs, so one lab per"
                       " machine runs Kubernetes (take the other down, or free the port)")
    config = _config(folder, keys)
    process = start_ready("registry", [PROGRAM, "serve", str(config)], folder / "registry.log",
                          lambda: ready(keys.ca.certificate), START_TIMEOUT, HEALTH,
                          interval=0.1)
    return Component(name="registry", health=HEALTH, process=process)


def stop_registry(component: Component) -> None:
    """Stop it and wait until its port is free: a process that is exiting has lost its
    command line (so `alive` says no) before it closes its sockets."""
    stop(component.process)
    if not wait_until(lambda: not _taken(), START_TIMEOUT, interval=0.05):
        raise LabError(f"{ADDRESS} is still taken after the registry stopped")


def _config(folder: Path, keys: pki.Pki) -> Path:
    """distribution's config: filesystem storage in `folder`, TLS only, no auth (it listens
    on 127.0.0.1 alone, like the rest of the lab)."""
    serving = keys.issue("registry", tls.server("tcra lab registry", pki.HOST,
                                                dns_names=("localhost",)))
    storage = folder / "storage"
    storage.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "tcra-lab-registry"}},
        "storage": {"filesystem": {"rootdirectory": str(storage)},
                    "delete": {"enabled": True}, "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": ADDRESS, "headers": {"X-Content-Type-Options": ["nosniff"]},
                 "tls": {"certificate": str(serving.certificate), "key": str(serving.key)}},
    }
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def ready(ca: Path) -> bool:
    """The registry answers its API's base URL with 200, over TLS verified against `ca`."""
    try:
        _fetch(HEALTH, ca)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False
    return True


def tags(repository: str, ca: Path) -> list[str]:
    """The tags of `repository` (e.g. tcra/mosquitto); none when it was never pushed."""
    try:
        return list(json.loads(_fetch(f"{URL}/v2/{repository}/tags/list", ca))
                    .get("tags") or [])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise LabError(f"registry: tags of {repository}: {error}") from error
    except (urllib.error.URLError, OSError) as error:
        raise LabError(f"registry at {URL} does not answer: {error}") from error


def manifest(repository: str, reference: str, ca: Path) -> dict[str, object]:
    """The manifest of `repository` at a tag or digest, as the registry serves it."""
    try:
        data: dict[str, object] = json.loads(_fetch(
            f"{URL}/v2/{repository}/manifests/{reference}", ca, accept=MANIFEST_TYPES))
        return data
    except (urllib.error.URLError, OSError) as error:
        raise LabError(f"registry: manifest of {repository}:{reference}: {error}") from error


def blob(repository: str, digest: str, ca: Path) -> bytes:
    """A blob of `repository` (an image's config, a layer) by its digest."""
    try:
        return _fetch(f"{URL}/v2/{repository}/blobs/{digest}", ca)
    except (urllib.error.URLError, OSError) as error:
        raise LabError(f"registry: blob {digest} of {repository}: {error}") from error


def _fetch(url: str, ca: Path, accept: tuple[str, ...] = ()) -> bytes:
    """The body of a 2xx answer (urllib raises HTTPError on any other)."""
    headers = {"Accept": ", ".join(accept)} if accept else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (https only)
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT,  # noqa: S310 (https only)
                                context=context) as reply:
        body: bytes = reply.read()
        return body


def _taken() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((pki.HOST, REGISTRY_PORT)) == 0

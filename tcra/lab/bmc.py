"""The lab's BMC: sushy-tools' Redfish emulator on loopback, serving only the lab's nodes, over
HTTPS from the lab's own CA (`tcra.lab.tls`), so every tool takes the production TLS path."""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import sys
from pathlib import Path

import requests

from tcra.lab import tls
from tcra.lab.nodes import pool_name
from tcra.lab.processes import LabError, alive, free_port, log_tail, start, wait_until
from tcra.lab.spec import Bmc, LabSpec, Node

EMULATOR = "tcra.lab.emulator"
USERNAME = "tcra"
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 5.0


def password_file(spec: LabSpec) -> Path:
    return spec.state_dir / "bmc" / "password"


def tls_folder(spec: LabSpec) -> Path:
    return spec.state_dir / "bmc" / "tls"


def serve(spec: LabSpec, nodes: tuple[Node, ...], port: int) -> Bmc:
    """Start the emulator for exactly these nodes, with basic auth and TLS, and wait until it
    answers a client that verifies it against the lab's CA."""
    if importlib.util.find_spec("sushy_tools") is None:
        raise LabError("the Redfish emulator (sushy-tools) is not installed:"
                       " pip install 'tcra[lab]' (make setup does this)")
    home = spec.state_dir / "bmc"
    password = ensure_password(spec)
    auth_file = home / "htpasswd"
    staged = home / "htpasswd.new"
    staged.unlink(missing_ok=True)
    tls.write_private(staged, f"{USERNAME}:{_bcrypt(password)}\n".encode())
    staged.replace(auth_file)
    certificates = tls.ensure(tls_folder(spec), spec.name)
    port = port or free_port()
    config = home / "emulator.conf"
    # A Python file read by the emulator; repr() keeps every value a literal.
    config.write_text(
        f"SUSHY_EMULATOR_LIBVIRT_URI = {spec.libvirt_uri!r}\n"
        f"SUSHY_EMULATOR_ALLOWED_INSTANCES = {[n.uuid for n in nodes]!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(home / 'state')!r}\n"
        f"SUSHY_EMULATOR_STORAGE_POOL = {pool_name(spec)!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(auth_file)!r}\n"
        "SUSHY_EMULATOR_FEATURE_SET = 'full'\n"
        f"SUSHY_EMULATOR_SSL_CERT = {str(certificates.certificate)!r}\n"
        f"SUSHY_EMULATOR_SSL_KEY = {str(certificates.key)!r}\n"
    )
    log = home / "emulator.log"
    process = start([sys.executable, "-m", EMULATOR, "--config", str(config),
                     "-i", "127.0.0.1", "-p", str(port)], log, program=EMULATOR)
    bmc = Bmc(process=process, port=port, username=USERNAME, ca_bundle=certificates.ca_bundle)
    if not wait_until(lambda: answers(bmc, password) or not alive(process), START_TIMEOUT):
        raise LabError(f"the Redfish emulator did not answer on {bmc.url} within"
                       f" {START_TIMEOUT:.0f}s:\n{log_tail(log)}")
    if not alive(process):
        raise LabError(f"the Redfish emulator exited at start (port {port} taken?):\n"
                       f"{log_tail(log)}")
    return bmc


def answers(bmc: Bmc, password: str) -> bool:
    """True when the emulator serves the Redfish service root to the lab's credentials."""
    try:
        reply = requests.get(f"{bmc.url}/redfish/v1/Systems", auth=(bmc.username, password),
                             verify=str(bmc.ca_bundle) if bmc.ca_bundle else True,
                             timeout=REQUEST_TIMEOUT)
    except requests.RequestException:
        return False
    return reply.status_code == 200


def read_password(spec: LabSpec) -> str:
    return password_file(spec).read_text().strip()


def ensure_password(spec: LabSpec) -> str:
    """The lab's BMC password, generated on first use into a file only its owner can read."""
    path = password_file(spec)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an earlier `up` made it: the inventory uses it
        tls.write_private(path, secrets.token_urlsafe(18).encode())
    return read_password(spec)


def _bcrypt(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6)).decode()

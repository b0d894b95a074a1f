"""The lab as an OAuth2 token issuer for `tcra serve`: its own signing key, in its state
folder (which `down` removes), and the inventory's `tcra_api` naming it."""

from __future__ import annotations

from pathlib import Path

from tcra.api.auth import ensure_signing_key, key_files
from tcra.lab.processes import LabError
from tcra.lab.spec import LabSpec
from tcra.model.inventory import ApiIssuer


def folder(spec: LabSpec) -> Path:
    return spec.state_dir / "api"


def issuer(spec: LabSpec) -> ApiIssuer:
    """Makes the key pair on first use."""
    _private, public = ensure_signing_key(folder(spec))
    return ApiIssuer(issuer=f"tcra-lab-{spec.name}", public_key=public)


def signing_key(spec: LabSpec) -> Path:
    """The key `up` made; a lab that is not up has none."""
    key, _public = key_files(folder(spec))
    if not key.exists():
        raise LabError(f"lab {spec.name} has no signing key: is it up? (tcra lab up)")
    return key

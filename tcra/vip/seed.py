"""The cloud-init NoCloud seed as ISO 9660 bytes, made in Python (pycdlib): no genisoimage,
no mount, and it can be uploaded to a remote hypervisor's pool as a volume."""

from __future__ import annotations

import io

import pycdlib
import yaml

from tcra.vip.model import CloudInit

LABEL = "cidata"  # what cloud-init's NoCloud source looks for


def documents(name: str, cloud_init: CloudInit) -> dict[str, bytes]:
    """The seed's files: meta-data always, user-data always (cloud-init needs it), network-config
    when given. SSH keys go into meta-data, so user data stays exactly what the user wrote."""
    meta: dict[str, object] = {"instance-id": name, "local-hostname": name}
    if cloud_init.ssh_authorized_keys:
        meta["public-keys"] = list(cloud_init.ssh_authorized_keys)
    files = {
        "meta-data": yaml.safe_dump(meta, sort_keys=False).encode(),
        "user-data": (cloud_init.user_data or "#cloud-config\n{}\n").encode(),
    }
    if cloud_init.network_config is not None:
        files["network-config"] = yaml.safe_dump(cloud_init.network_config,
                                                 sort_keys=False).encode()
    return files


def iso(name: str, cloud_init: CloudInit) -> bytes:
    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    for filename, content in documents(name, cloud_init).items():
        short = filename.replace("-", "").upper()[:8]
        image.add_fp(io.BytesIO(content), len(content), f"/{short}.;1", rr_name=filename,
                     joliet_path=f"/{filename}")
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


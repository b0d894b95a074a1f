"""The tcra.telco collection builds with ansible-galaxy and passes ansible-test sanity."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2] / "collections/ansible_collections/tcra/telco"
BIN = Path(sys.executable).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

# ansible-test bootstraps pip in each sanity virtualenv with a get-pip script it downloads from
# a host outside the package registries (not reachable here). This stand-in does the same from
# what is reachable: ensurepip's bundled pip, then `pip install` of what ansible-test asks for
# (the pinned pip first) from PyPI. ansible-test runs pip with a bare environment and no pip
# configuration, so the stand-in names the machine's CA bundle itself.
GET_PIP = '''\
"""tcra: an offline stand-in for ansible-test's get-pip script (tests/unit/test_collection.py)."""
import ensurepip, os, ssl, subprocess, sys
ensurepip.bootstrap()
paths = ssl.get_default_verify_paths()
cafile = {cafile!r} or paths.cafile or paths.openssl_cafile
cert = ["--cert", cafile] if cafile and os.path.exists(cafile) else []
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *cert, *args]))
'''


def galaxy() -> dict[str, str]:
    return yaml.safe_load((COLLECTION / "galaxy.yml").read_text())


def build(into: Path) -> Path:
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path",
                    str(into), str(COLLECTION)], check=True, capture_output=True, timeout=120)
    meta = galaxy()
    return into / f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"


def test_the_collection_builds_with_its_roles_modules_and_playbook(tmp_path):
    archive = build(tmp_path)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for member in ("MANIFEST.json", "playbooks/site.yml", "plugins/modules/srv6_route.py",
                   "plugins/modules/sysfs_value.py", "plugins/modules/hugetlbfs_mount.py",
                   "roles/hbr/meta/argument_specs.yml",
                   "roles/libvirt_host/meta/argument_specs.yml",
                   "roles/node_prep/meta/argument_specs.yml",
                   "extensions/molecule/libvirt_host/molecule.yml",
                   "extensions/molecule/node_prep/molecule.yml"):
        assert member in names
    assert not any(name.startswith("tests/output") for name in names)


def ansible_test_home() -> Path:
    """A HOME for ansible-test that keeps its sanity virtualenvs between runs, in tcra's cache
    folder (TCRA_CACHE, which CI keeps; see docs/development.md)."""
    cache = os.environ.get("TCRA_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tcra"
    home = Path(cache) / "ansible-test-home"
    source = (BIN.parent / "lib" / f"python{PYTHON}" / "site-packages" / "ansible_test"
              / "_internal" / "python_requirements.py")
    pinned = re.search(r"pip='([0-9.]+)'", source.read_text()) if source.exists() else None
    if pinned is None:
        pytest.skip(f"cannot tell which pip ansible-test bootstraps (read {source})")
    script = home / ".ansible/test/cache" / f"get_pip_{pinned.group(1).replace('.', '_')}.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or ""
    script.write_text(GET_PIP.format(cafile=cafile))
    return home


def test_the_built_collection_passes_ansible_test_sanity(tmp_path):
    archive = build(tmp_path)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force",
                    "--collections-path", str(tmp_path), str(archive)],
                   check=True, capture_output=True, timeout=120)
    copy = tmp_path / "ansible_collections/tcra/telco"
    home = ansible_test_home()
    # ansible-test makes its virtualenvs with the python3.X it finds on PATH: that must be the
    # base interpreter, not this virtualenv's (whose packages would leak into them)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if Path(p).resolve() != BIN.resolve())
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}
    result = subprocess.run([str(BIN / "ansible-test"), "sanity", "--python", PYTHON,
                             "--color", "no"],
                            cwd=copy, env=env, capture_output=True, text=True, timeout=1500)
    output = result.stdout + result.stderr
    shutil.rmtree(copy / "tests/output", ignore_errors=True)
    assert result.returncode == 0, output[-8000:]
    assert "Running sanity test \"validate-modules\"" in output

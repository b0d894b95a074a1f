"""The lab's BMC password file is 0600 from the moment it exists, whatever the umask: an audit
hook stats it at every audited step of its creation (open, chmod, write...), so a file made
readable first and restricted afterwards would be seen."""

import json
import stat
import subprocess
import sys

from tcra.lab import bmc
from tcra.lab.spec import LabSpec

WATCH = """
import json, os, sys
from pathlib import Path
from tcra.lab import bmc
from tcra.lab.spec import LabSpec

spec = LabSpec(name="pw", state_root=Path(sys.argv[1]))
path, seen = bmc.password_file(spec), []

def hook(_event, _args):
    try:
        seen.append(oct(path.stat().st_mode & 0o777))
    except OSError:
        pass  # not created yet

os.umask(0)  # so that any mode not given at creation would show as 0666
sys.addaudithook(hook)
password = bmc.ensure_password(spec)
print(json.dumps({"modes": sorted(set(seen)), "length": len(password)}))
"""


def test_password_file_is_never_readable_by_others(tmp_path):
    done = subprocess.run([sys.executable, "-c", WATCH, str(tmp_path)], capture_output=True,
                          text=True, check=True, timeout=60)
    report = json.loads(done.stdout)
    assert report["modes"] == ["0o600"]  # every look at it, from the first on
    assert report["length"] >= 24
    path = bmc.password_file(LabSpec(name="pw", state_root=tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


def test_an_existing_password_is_kept(tmp_path):
    spec = LabSpec(name="pw", state_root=tmp_path)
    first = bmc.ensure_password(spec)
    assert bmc.ensure_password(spec) == first

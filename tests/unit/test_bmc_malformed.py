"""A BMC whose answers are not Redfish (not JSON, or JSON of another shape) fails with one line
naming the host and the BMC, never a raw JSONDecodeError or AttributeError."""

import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from tcra.bmc import BmcError, BmcTarget, call
from tests.conftest import EXAMPLE

TCRA = str(Path(sys.executable).parent / "tcra")
BODIES = {
    "not JSON": b"<html>maintenance</html>",
    "a list": b"[]",
    "a service root without Systems": b'{"Id": "RootService", "Systems": 42}',
}


@pytest.fixture(params=list(BODIES))
def bmc(request) -> Iterator[str]:
    body = BODIES[request.param]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_malformed_answer_is_one_error_naming_host_and_bmc(bmc):
    target = BmcTarget(host="edge-1", address=bmc, username="u", password=SecretStr("p"),
                       auth="basic", timeout=2)
    with pytest.raises(BmcError, match=rf"^host edge-1: BMC {bmc}: the answer is not the"
                       r" Redfish expected \(\w+: .*\)$"):
        call(target, lambda root: root.get_system_collection().get_members())


def test_tcra_hosts_prints_one_line_for_it(bmc, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    for i, host_vars in enumerate(sorted((inventory / "host_vars").glob("*.yml"))):
        # every BMC is the broken one, each host at a path of its own
        text = re.sub(r"address: \S+", f"address: {bmc}/bmc{i}", host_vars.read_text())
        host_vars.write_text(text)
    done = subprocess.run([TCRA, "hosts", str(inventory)], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "TCRA_BMC_PASSWORD": "p"})
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert "the answer is not the Redfish expected" in output, output

"""`tcra serve` as a real process on a free port of 127.0.0.1, for the tests that call it."""

import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tcra.api.app import BASE
from tcra.lab.processes import free_port
from tests.conftest import ROOT


@contextmanager
def serving(*args: str) -> Iterator[str]:
    """The API's base URL while `tcra serve ARGS` runs; its log (a file: a pipe nobody reads
    while the tests run would fill and stall the server) must hold no traceback."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([str(ROOT / ".venv/bin/tcra"), "serve", "--port", str(port),
                                   *args], stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}{BASE}"
        try:
            _wait_for(url, server, log)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)
        log.seek(0)
        written = log.read()
    assert "Traceback" not in written, written[-5000:]


def _wait_for(url: str, server: subprocess.Popen[str], log: IO[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/openapi.json", timeout=2).close()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait(timeout=30)
                log.seek(0)
                raise AssertionError(f"tcra serve did not answer:\n{log.read()[-3000:]}"
                                     ) from None
            time.sleep(0.2)

"""One deploying server per store: the workers' lease in a SQLite store, taken by the first
server with workers, refused to a second while the first lives, and taken over from a holder
that died on this machine or let it run out."""

import socket
import subprocess
import sys

import pytest

from tcra.api.deploy import LEASE, Deployer, LeaseHeldError
from tcra.api.store import ApiStore


@pytest.fixture
def store(tmp_path):
    made = ApiStore(f"sqlite:///{tmp_path / 'store.db'}")
    made.migrate()
    return made


def deployer(store, tmp_path, workers=1):
    return Deployer(store, None, tmp_path, store.url, tmp_path / "serve", lambda _t: None,
                    workers=workers)


def test_a_second_deploying_server_is_refused_until_the_first_stops(store, tmp_path):
    first, second = deployer(store, tmp_path), deployer(store, tmp_path)
    first.resume()
    with pytest.raises(LeaseHeldError, match=f"another server's workers.*{first.holder}"):
        second.resume()
    deployer(store, tmp_path, workers=0).resume()  # one that only books needs no lease
    first.close()
    second.resume()
    assert store.take_lease(LEASE, "someone", 10).holder == second.holder
    second.close()


def test_the_lease_of_a_dead_process_here_or_one_run_out_is_taken_over(store, tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    store.take_lease(LEASE, f"{socket.gethostname()}:{gone}:dead", 3600)
    here = deployer(store, tmp_path)
    here.resume()
    here.close()
    store.take_lease(LEASE, "elsewhere:1:gone", -1)  # run out already
    there = deployer(store, tmp_path)
    there.resume()
    assert store.take_lease(LEASE, "someone", 10).holder == there.holder
    there.close()
    store.take_lease(LEASE, "elsewhere:1:alive", 3600)
    with pytest.raises(LeaseHeldError, match="elsewhere:1:alive"):
        deployer(store, tmp_path).resume()

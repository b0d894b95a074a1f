"""A real, throwaway PostgreSQL server for the test session, and a fresh database per test.

The server runs as the `postgres` user (initdb refuses root) from a temporary folder that holds
its data and its unix socket; it listens on 127.0.0.1 only, on a free port, with a password
login over TCP so a test can also try a wrong one. Everything goes when the session ends.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from tcra.lab.processes import free_port


def server_bin() -> Path | None:
    """The newest installed server's bin folder (Debian's layout), or None."""
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    newest = max(found, key=lambda initdb: [int(p) for p in initdb.parts[-3].split(".")],
                 default=None)
    return newest.parent if newest else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a database on a server this fixture initialises, starts, stops and removes."""
    bindir = server_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server in /usr/lib/postgresql/*/bin (scripts/setup-host "
                    "installs the `postgresql` package)")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="tcra-pg-"))
    data, port, password = root / "data", free_port(), secrets.token_urlsafe(16)

    def run(*args: str) -> None:
        done = subprocess.run([*as_postgres, *args], cwd=root, capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            log = root / "server.log"
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    try:
        (root / "pwfile").write_text(password)
        if as_postgres:
            for path in (root, root / "pwfile"):
                shutil.chown(path, "postgres", "postgres")
        run(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--pwfile", "pwfile",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--no-locale", "-E", "UTF8",
            "--no-sync")
        run(f"{bindir}/pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "30",
            "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off", "start")
        try:
            run(f"{bindir}/createdb", "-h", str(root), "-p", str(port), "-U", "postgres", "tcra")
            yield f"postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/tcra"
        finally:
            run(f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server of `server_url`, so each test starts clean."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)

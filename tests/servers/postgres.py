"""A real PostgreSQL server for tests, started from Debian's binaries on 127.0.0.1 and a free port.

The server is always our own: ``initdb`` into a fresh directory, ``pg_ctl start`` on a port nobody listens on, and
``pg_ctl stop`` at the end -- never an already running server. Debian's binaries refuse to run as root, so they run
as the ``postgres`` user; the data directory therefore lives in a folder of its own under the system temp dir
(pytest's own tmp tree is private to root). ``fsync=off`` because durability is not under test.

Use the ``postgres_server`` fixture (one server for the whole run, stopped at exit) or :func:`start_postgres` from
a script (the benchmark does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.shared import SharedServer

PG_BIN = Path(os.environ.get("ZALONI_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"
PG_PASSWORD = "zaloni-secret"


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens. The ``postgres`` superuser authenticates with :data:`PG_PASSWORD`."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    data_dir: Path

    @property
    def uri(self) -> str:
        """A libpq URI (psycopg, ADBC, psql)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def airflow_conn_uri(self, password: str | None = None) -> str:
        """The ``AIRFLOW_CONN_*`` form of the connection, optionally with another password."""
        pw = self.password if password is None else password
        return f"postgres://{self.user}:{pw}@{self.host}:{self.port}/{self.dbname}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = list(args) if os.geteuid() != 0 else ["runuser", "-u", PG_USER, "--", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)


def postgres_unavailable_reason() -> str | None:
    """Why a server cannot be started here, or ``None`` when it can."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install -y postgresql)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"no '{PG_USER}' user to run the server as (apt-get install -y postgresql creates it)"
    return None


@contextlib.contextmanager
def start_postgres(dbname: str = "warehouse") -> Iterator[PostgresServer]:
    """Initialise, start and finally stop and delete a private PostgreSQL cluster."""
    reason = postgres_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    base = Path(tempfile.mkdtemp(prefix="zaloni-pg-"))
    base.chmod(0o755)  # the postgres user must traverse it
    data_dir = base / "data"
    pwfile = base / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, user=PG_USER)
        shutil.chown(pwfile, user=PG_USER)
    port = _free_port()
    started = False
    try:
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
        )
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off -c max_connections=60"
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-w", "-l", str(base / "log"), "-o", options, "start")
        started = True
        server = PostgresServer("127.0.0.1", port, PG_USER, PG_PASSWORD, "postgres", data_dir)
        import psycopg

        with psycopg.connect(server.uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        yield PostgresServer("127.0.0.1", port, PG_USER, PG_PASSWORD, dbname, data_dir)
    finally:
        if started:
            with contextlib.suppress(Exception):
                _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


_shared = SharedServer(start_postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The private PostgreSQL server of this test run; skipped with the reason when the binaries are missing.

    Test modules import this fixture, and pytest makes each import a fixture of its own; the instances share one
    server (started by the first, stopped by the last at the end of the session).
    """
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with _shared.use() as server:
        yield server

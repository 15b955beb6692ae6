"""A real MariaDB server for tests, started from Debian's ``mariadb-server`` binaries on 127.0.0.1 and a free port.

The server is always our own: ``mariadb-install-db`` into a fresh temporary directory, ``mariadbd`` with
``--no-defaults`` (no system configuration, no system service) on a port nobody listens on, stopped and deleted at
the end. Durability is not under test (no binary log, no flush at commit). The server's default time zone is
``+02:00`` on purpose: every session starts in a non-UTC zone, as on the servers where TIMESTAMP columns used to land
shifted, so the tests see that our reads still land UTC instants.

Use the ``mariadb_server`` fixture (one server for the whole run, stopped at exit) or :func:`start_mariadb` from a
script (the benchmark does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.shared import SharedServer

MARIADBD = os.environ.get("ZALONI_TEST_MARIADBD", "/usr/sbin/mariadbd")
INSTALL_DB = os.environ.get("ZALONI_TEST_MARIADB_INSTALL_DB", "/usr/bin/mariadb-install-db")
USER = "zaloni"
PASSWORD = "zaloni-secret"
#: Every session of the test server starts in this zone (``--default-time-zone``).
SERVER_TIME_ZONE = "+02:00"


@dataclass(frozen=True)
class MariaDbServer:
    """Where the test server listens; :data:`USER` authenticates with :data:`PASSWORD` and owns ``dbname``."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    socket: Path
    base_dir: Path

    def airflow_conn_uri(self, *, password: str | None = None, **extra: str) -> str:
        """The ``AIRFLOW_CONN_*`` form of the connection (a ``mysql`` connection), with optional extras."""
        import urllib.parse

        pw = self.password if password is None else password
        query = f"?{urllib.parse.urlencode(extra)}" if extra else ""
        return f"mysql://{self.user}:{pw}@{self.host}:{self.port}/{self.dbname}{query}"

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments of ``MySQLdb.connect`` (mysqlclient)."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password, "db": self.dbname}

    def connect(self, **kwargs: object) -> object:
        """A mysqlclient connection (autocommit off, as ``MySqlHook`` hands them out)."""
        import MySQLdb

        return MySQLdb.connect(**{**self.connect_kwargs(), "charset": "utf8mb4", **kwargs})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mariadb_unavailable_reason() -> str | None:
    """Why a server cannot be started here, or ``None`` when it can."""
    for binary in (MARIADBD, INSTALL_DB):
        if not Path(binary).exists():
            return f"{binary} not found (apt-get install -y mariadb-server; scripts/system-deps.sh --test)"
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return "mysqlclient is not installed (pip install 'airflow-zaloni[mysql]')"
    return None


def _run_as() -> str:
    """The OS user the server runs as: mariadbd refuses root unless told, and as root it may as well stay root."""
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _wait_ready(proc: subprocess.Popen[bytes], sock: Path, log: Path, timeout: float = 60) -> None:
    import MySQLdb

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            MySQLdb.connect(unix_socket=str(sock), user="root").close()
            return
        except MySQLdb.OperationalError as exc:
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mariadbd not ready after {timeout}s:\n{tail}") from exc
            time.sleep(0.2)


@contextlib.contextmanager
def start_mariadb(dbname: str = "warehouse") -> Iterator[MariaDbServer]:
    """Initialise, start and finally stop and delete a private MariaDB server."""
    reason = mariadb_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    import MySQLdb

    base = Path(tempfile.mkdtemp(prefix="zaloni-mariadb-"))
    data, sock, log = base / "data", base / "mariadb.sock", base / "error.log"
    user = _run_as()
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={data}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",  # root without password, on the socket only (below)
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = _free_port()
        proc = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={data}",
                f"--user={user}",
                f"--socket={sock}",
                f"--pid-file={base / 'mariadb.pid'}",
                f"--log-error={log}",
                f"--tmpdir={base}",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=128M",
                "--innodb-log-file-size=64M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=80",
                "--character-set-server=utf8mb4",
                f"--default-time-zone={SERVER_TIME_ZONE}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_ready(proc, sock, log)
        admin = MySQLdb.connect(unix_socket=str(sock), user="root")
        try:
            cur = admin.cursor()
            cur.execute(f"CREATE DATABASE `{dbname}` CHARACTER SET utf8mb4")
            cur.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION")  # tests make users
        finally:
            admin.close()
        yield MariaDbServer("127.0.0.1", port, USER, PASSWORD, dbname, sock, base)
    finally:
        if proc is not None:
            proc.terminate()  # SIGTERM: mariadbd shuts down cleanly
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


_shared = SharedServer(start_mariadb)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    """The private MariaDB server of this test run; skipped with the reason when the binaries are missing.

    As with ``postgres_server``, each test module that imports the fixture shares the one server.
    """
    reason = mariadb_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with _shared.use() as server:
        yield server

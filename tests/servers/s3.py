"""A real S3 for tests: ``moto_server`` (moto's HTTP S3, a third-party implementation) on 127.0.0.1 and a free port.

One server per test session (fixture ``s3_server``); each test that wants a clean lake takes a fresh prefix with
:meth:`S3Server.new_root`. The server is reached as a user reaches S3: through an Airflow ``aws`` connection whose
extra holds ``endpoint_url`` (exported as ``AIRFLOW_CONN_<ID>`` while the session runs), or with plain fsspec/s3fs
storage options (for child processes that should not import Airflow).

API::

    from tests.servers.s3 import S3Server, s3_server

    def test_x(s3_server: S3Server) -> None:
        root = s3_server.new_root("lake")          # "s3://zaloni-test/lake-<n>"
        Lake(root, conn_id=s3_server.conn_id)      # credentials and endpoint from the Airflow connection
        s3_server.storage_options                  # {"key", "secret", "endpoint_url", ...} for s3fs directly
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers.airflow import free_port

__all__ = ["S3Server", "s3_server", "start_s3_server"]

BUCKET = "zaloni-test"
CONN_ID = "zaloni_test_s3"
ACCESS_KEY = "zaloni-test-key"
SECRET_KEY = "zaloni-test-secret/with+odd=chars"  # must survive URI quoting and never appear in a log
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running moto_server and the bucket the tests use."""

    host: str
    port: int
    bucket: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    conn_id: str = CONN_ID
    _n: Iterator[int] = field(default_factory=itertools.count)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """s3fs options reaching this server without Airflow (``use_listings_cache`` off: other processes write)."""
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "endpoint_url": self.endpoint_url,
            "client_kwargs": {"region_name": REGION},
            "use_listings_cache": False,
        }

    def airflow_conn_uri(self) -> str:
        """The ``AIRFLOW_CONN_*`` value: an ``aws`` connection with the endpoint in its extra."""
        extra = json.dumps({"endpoint_url": self.endpoint_url, "region_name": REGION})
        return f"aws://{quote(ACCESS_KEY, safe='')}:{quote(SECRET_KEY, safe='')}@?__extra__={quote(extra, safe='')}"

    def new_root(self, name: str = "lake") -> str:
        """A lake root no other test of the session uses."""
        return f"s3://{self.bucket}/{name}-{next(self._n)}"

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

    def create_bucket(self, bucket: str) -> None:
        import s3fs

        # Without a region: s3fs would send LocationConstraint=us-east-1, which S3 (and moto) refuse.
        options = {k: v for k, v in self.storage_options.items() if k != "client_kwargs"}
        s3fs.S3FileSystem(**options).mkdir(bucket)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"moto_server exited with {proc.returncode} before listening: {err}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on {host}:{port} within {timeout:.0f} s")


def start_s3_server(bucket: str = BUCKET) -> S3Server:
    """Start ``moto_server -H 127.0.0.1 -p <free port>`` in its own process group and create ``bucket``."""
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists():
        raise RuntimeError(f"{moto} not found: install the test extra (moto[server])")
    host, port = "127.0.0.1", free_port()
    # The server logs every request: to a file, since a pipe nobody reads would block it once full.
    log = Path(tempfile.mkdtemp(prefix="zaloni-moto-")) / "moto_server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(moto), "-H", host, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = S3Server(host=host, port=port, bucket=bucket, proc=proc, log_path=log)
    try:
        _wait_for_port(host, port, proc, log)
        server.create_bucket(bucket)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto_server for the session, with bucket :data:`BUCKET` and the Airflow connection :data:`CONN_ID`."""
    server = start_s3_server()
    env_name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    previous = os.environ.get(env_name)
    os.environ[env_name] = server.airflow_conn_uri()
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop(env_name, None)
        else:
            os.environ[env_name] = previous
        server.stop()

"""A real Apache Hadoop for tests: Hadoop's own servers, started by ``scripts/hadoop.sh`` on 127.0.0.1.

HDFS is Hadoop's MiniDFSCluster (two NameNodes in HA under the nameservice ``zaloni``, one DataNode, WebHDFS on);
YARN is two ResourceManagers in HA (sharing a state store, so the standby takes over the applications), a
NodeManager with the MapReduce shuffle service and a JobHistoryServer, each Hadoop's own daemon main class. Every
port is free-picked, and the state lives in a private temporary folder, so several clusters can run at once on
one machine. The jars come from Maven (``hadoop/pom.xml``, cached in ``~/.m2``).

There is no skipping: when Maven, Java or the cluster fails, the fixture fails with the reason and the log tail.

Use the session fixture ``hadoop_cluster`` (registered in ``tests/conftest.py``)::

    def test_x(hadoop_cluster):
        hadoop_cluster.run("hdfs", "dfs", "-ls", "/")
        hadoop_cluster.yarn_conn_uri      # value for AIRFLOW_CONN_YARN_DEFAULT
        hadoop_cluster.stop_active_resourcemanager()

The Kerberized variant (``scripts/hadoop.sh up-kerberos``: a MiniKdc, one NameNode + DataNode and one
ResourceManager, SPNEGO on WebHDFS and the RM REST API) is the module fixture ``kerberized_hadoop``: it starts for
the module that asks for it and stops after it, so the other ``hadoop`` tests do not pay for it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "hadoop.sh"
#: Start-up is about 25 s on a quiet machine; far more under the load of several engineers' test runs.
START_TIMEOUT = 300


class HadoopClusterError(RuntimeError):
    """The local Hadoop could not be built or started (the message has the command and its output)."""


def _script(*args: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "HADOOP_START_TIMEOUT": str(START_TIMEOUT)},
        )
    except subprocess.TimeoutExpired as error:
        raise HadoopClusterError(f"scripts/hadoop.sh {' '.join(args)} did not finish in {timeout:.0f}s") from error
    if done.returncode != 0:
        raise HadoopClusterError(
            f"scripts/hadoop.sh {' '.join(args)} failed (exit {done.returncode}):\n"
            f"{done.stderr[-4000:]}{done.stdout[-2000:]}"
        )
    return done.stdout


def _properties(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip()] = value.strip()
    return props


def _env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of ``.hadoop/env`` (PATH kept symbolic: prepended by :attr:`env`)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = value.strip("'")
    return env


@dataclass
class HadoopCluster:
    """A running local Hadoop (see the module docstring); the fields are what CONTRACTS.md promises."""

    home: Path
    conf_dir: Path
    bin: Path
    env: dict[str, str]
    nameservice: str
    namenode_http: list[str]
    namenode_rpc: list[str]
    resourcemanager_http: list[str]
    jobhistory_http: str
    webhdfs_conn_uri: str
    yarn_conn_uri: str
    examples_jar: Path
    control_port: int
    user: str = field(default="")

    @classmethod
    def from_home(cls, home: Path) -> HadoopCluster:
        props = _properties(home / "cluster.properties")
        exported = _env_file(home / "env")
        env = {k: v for k, v in exported.items() if k != "PATH"}
        env["PATH"] = f"{home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return cls(
            home=home,
            conf_dir=home / "conf",
            bin=home / "bin",
            env=env,
            nameservice=props["nameservice"],
            namenode_http=props["namenode_http"].split(","),
            namenode_rpc=props["namenode_rpc"].split(","),
            resourcemanager_http=props["resourcemanager_http"].split(","),
            jobhistory_http=props["jobhistory_http"],
            webhdfs_conn_uri=env["AIRFLOW_CONN_WEBHDFS_DEFAULT"],
            yarn_conn_uri=env["AIRFLOW_CONN_YARN_DEFAULT"],
            examples_jar=Path(env["HADOOP_EXAMPLES_JAR"]),
            control_port=int(props["control_port"]),
            user=urllib.parse.urlsplit(env["AIRFLOW_CONN_YARN_DEFAULT"]).username or "",
        )

    # -- tools ------------------------------------------------------------------------------------------------------
    def run(
        self, tool: str, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``bin/<tool>`` (``hadoop``, ``yarn`` or ``hdfs``: Hadoop's own CLI) against this cluster."""
        done = subprocess.run(
            [str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env={**os.environ, **self.env},
        )
        if check and done.returncode != 0:
            raise HadoopClusterError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done

    def client_conf(self) -> dict[str, str]:
        """The Hadoop client settings of ``conf/core-site.xml`` and ``conf/hdfs-site.xml`` (the HA nameservice and
        its NameNodes), for a client that cannot be pointed at ``HADOOP_CONF_DIR`` (a running Spark session)."""
        import xml.etree.ElementTree as ET

        conf: dict[str, str] = {}
        for name in ("core-site.xml", "hdfs-site.xml"):
            for prop in ET.parse(self.conf_dir / name).getroot().iter("property"):
                key, value = prop.findtext("name"), prop.findtext("value")
                if key and value is not None:
                    conf[key.strip()] = value.strip()
        return conf

    # -- HDFS HA (through the launcher's control channel) -----------------------------------------------------------
    def _control(self, command: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=60) as sock:
            sock.sendall(command.encode() + b"\n")
            answer = sock.makefile().readline().strip()
        status, _, value = answer.partition(" ")
        if status != "ok":
            raise HadoopClusterError(f"launcher command {command!r}: {answer}")
        return value

    def active_namenode(self) -> int:
        """0 for nn1, 1 for nn2 (-1: none is active)."""
        return int(self._control("active-nn"))

    def failover_namenode(self) -> None:
        """Make the standby NameNode active (the active one becomes standby)."""
        self._control("failover-nn")

    # -- YARN HA ----------------------------------------------------------------------------------------------------
    def active_resourcemanager(self) -> int:
        """0 for rm0, 1 for rm1 (-1: none is active), as the RMs' own ``/ws/v1/cluster/info`` say."""
        return int(_script("active-rm", str(self.home), timeout=60).strip())

    def stop_active_resourcemanager(self) -> None:
        """Stop the active RM process and make the other one active (``yarn rmadmin -transitionToActive``).

        An RM stopped by an earlier call is started again as standby first, so this can be called repeatedly.
        """
        _script("rm-failover", str(self.home), timeout=START_TIMEOUT)

    def wait_for_active_resourcemanager(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index = self.active_resourcemanager()
            if index >= 0:
                return index
            time.sleep(1)
        raise HadoopClusterError(f"no active ResourceManager after {timeout:.0f}s")


def _log_tails(home: Path) -> str:
    tails = []
    for log in sorted((home / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        tails.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(tails)


@dataclass
class KerberizedHadoop:
    """A running Kerberized local Hadoop (``scripts/hadoop.sh up-kerberos``).

    :attr:`client_env` is what a worker with the user's keytab has: ``KRB5_CONFIG`` (the KDC), ``KRB5_CLIENT_KTNAME``
    (MIT Kerberos gets the user's ticket from that keytab by itself, no ``kinit``) and a private ``KRB5CCNAME``.
    """

    home: Path
    realm: str
    user_principal: str
    user_keytab: Path
    krb5_conf: Path
    namenode_http: str
    resourcemanager_http: str
    webhdfs_conn_uri: str
    yarn_conn_uri: str

    @classmethod
    def from_home(cls, home: Path) -> KerberizedHadoop:
        props = _properties(home / "cluster.properties")
        exported = _env_file(home / "env")
        return cls(
            home=home,
            realm=props["realm"],
            user_principal=props["user_principal"],
            user_keytab=Path(props["user_keytab"]),
            krb5_conf=Path(props["krb5_conf"]),
            namenode_http=props["namenode_http"],
            resourcemanager_http=props["resourcemanager_http"],
            webhdfs_conn_uri=exported["AIRFLOW_CONN_WEBHDFS_DEFAULT"],
            yarn_conn_uri=exported["AIRFLOW_CONN_YARN_DEFAULT"],
        )

    @property
    def user(self) -> str:
        """The user's short name, as HDFS and YARN know it (``root@EXAMPLE.COM`` -> ``root``)."""
        return self.user_principal.split("@", 1)[0]

    @property
    def client_env(self) -> dict[str, str]:
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_CLIENT_KTNAME": str(self.user_keytab),
            "KRB5CCNAME": f"FILE:{self.home / 'krb5cc'}",
        }


def _build_and_up(home: Path, command: str) -> None:
    """``scripts/hadoop.sh build`` then ``<command> home``; on failure, stop what started and raise with the logs."""
    for tool in ("java", "javac", "mvn", "curl", "setsid"):
        if shutil.which(tool) is None:
            raise HadoopClusterError(
                f"{tool!r} is not installed: the real Hadoop tests need it (run `make test-system-deps` as root)"
            )
    try:
        _script("build", timeout=900)  # a cold ~/.m2 downloads about 110 MB
        _script(command, str(home), timeout=START_TIMEOUT * 3)
    except HadoopClusterError as error:
        tails = _log_tails(home) if (home / "logs").is_dir() else ""
        stop_hadoop(home)
        raise HadoopClusterError(f"{error}\n{tails}") from error


def start_hadoop(home: Path) -> HadoopCluster:
    """Build (Maven, javac) and start a cluster in ``home``; stop it with :func:`stop_hadoop`."""
    _build_and_up(home, "up")
    return HadoopCluster.from_home(home)


def start_kerberized_hadoop(home: Path) -> KerberizedHadoop:
    """Build and start the Kerberized variant in ``home``; stop it with :func:`stop_hadoop`."""
    _build_and_up(home, "up-kerberos")
    return KerberizedHadoop.from_home(home)


def stop_hadoop(home: Path) -> None:
    _script("down", str(home), timeout=180)


def _running(prefix: str, start: Callable[[Path], T], what: str) -> Iterator[T]:
    """A cluster started by ``start`` in a private folder, stopped and removed afterwards; no skipping."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        cluster = start(home)
    except HadoopClusterError as error:
        shutil.rmtree(home, ignore_errors=True)
        pytest.fail(f"{what} did not start: {error}", pytrace=False)
    try:
        yield cluster
    finally:
        stop_hadoop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def hadoop_cluster() -> Iterator[HadoopCluster]:
    """One real Hadoop (HDFS HA + YARN HA + MapReduce) for the whole session, in a private folder."""
    yield from _running("zaloni-hadoop-", start_hadoop, "the real Hadoop cluster")


@pytest.fixture(scope="module")
def kerberized_hadoop() -> Iterator[KerberizedHadoop]:
    """The Kerberized local Hadoop (KDC + HDFS + one RM, SPNEGO), for one test module: about 10-20 s to start."""
    yield from _running("zaloni-hadoop-krb-", start_kerberized_hadoop, "the Kerberized Hadoop cluster")

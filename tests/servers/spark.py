"""A real Spark standalone cluster for tests: pyspark's own ``spark-class`` Master and Worker on 127.0.0.1.

The Master runs with its REST submission server on (``spark.master.rest.enabled``), so cluster deploy mode
submits through ``/v1/submissions/create`` and drivers are tracked with ``/v1/submissions/status/<id>``. Every port
is a free one picked at start (never 7077/6066/8080, which another process may hold), ``SPARK_LOCAL_IP`` keeps
everything on the loopback, and the JVMs (about 250 MB each) are stopped when the block ends. Python applications
cannot run in cluster deploy mode on a standalone cluster, hence :func:`build_test_jar`, a tiny Java application.

Usage::

    with spark_standalone(tmp_dir) as cluster:
        cluster.master_url      # spark://127.0.0.1:PORT
        cluster.rest_url        # http://127.0.0.1:RESTPORT
        cluster.web_url         # http://127.0.0.1:WEBPORT (master UI, JSON at /json/)

Start it once per test session (``spark_cluster`` fixture): it takes about 7 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SPARK_CLASS = shutil.which("spark-class", path=str(Path(sys.executable).parent)) or shutil.which("spark-class")
JOB_CLASS = "ZaloniTestJob"

# Sleeps argv[0] milliseconds, then exits with argv[1] (default 0): enough to test running, finishing, failing
# and being killed, without the cost of a SparkContext.
_JOB_SOURCE = """
public class ZaloniTestJob {
    public static void main(String[] args) throws Exception {
        long millis = args.length > 0 ? Long.parseLong(args[0]) : 0L;
        int exitCode = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        System.out.println("ZaloniTestJob sleeping " + millis + " ms");
        Thread.sleep(millis);
        if (exitCode != 0) {
            System.err.println("ZaloniTestJob failing on purpose with exit code " + exitCode);
            System.exit(exitCode);
        }
        System.out.println("ZaloniTestJob done");
    }
}
"""


#: JVM options for short-lived test JVMs: the C1 compiler only and the serial GC start a JVM markedly faster on a
#: busy 2-core machine (measured: a Master + Worker up in 14.5 s instead of 21-23 s at load average 25).
FAST_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def use_spark_submit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let tests run this virtualenv's ``spark-submit`` (on PATH) with fast-starting JVM options."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", FAST_JVM_OPTS)
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(work_dir: Path) -> dict[str, str]:
    """Environment for Spark JVMs: loopback only, logs and scratch space under ``work_dir``."""
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(work_dir / "local"),
        SPARK_LOG_DIR=str(work_dir / "logs"),
        SPARK_NO_DAEMONIZE="1",
        SPARK_DAEMON_JAVA_OPTS=FAST_JVM_OPTS,
    )
    return env


def build_test_jar(target_dir: Path) -> Path:
    """Compile :data:`_JOB_SOURCE` with ``javac -cp <pyspark>/jars/*`` and pack it; return the jar path."""
    jar = target_dir / "zaloni-test-job.jar"
    if jar.exists():
        return jar
    src = target_dir / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{JOB_CLASS}.java").write_text(_JOB_SOURCE)
    classpath = f"{spark_home() / 'jars'}/*"
    subprocess.run(["javac", "-cp", classpath, "-d", str(src), str(src / f"{JOB_CLASS}.java")], check=True)
    subprocess.run(["jar", "cf", str(jar), "-C", str(src), f"{JOB_CLASS}.class"], check=True)
    return jar


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    rest_url: str
    web_url: str
    rest_port: int
    work_dir: Path

    def master_state(self) -> dict:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as resp:
            return json.loads(resp.read())


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # own process group: stopping it takes the JVM that spark-class execs along
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextlib.contextmanager
def spark_standalone(
    work_dir: Path, *, cores: int = 2, memory: str = "1g", timeout: float = 60
) -> Iterator[SparkCluster]:
    """Start a Master (REST on) and one Worker on 127.0.0.1; stop both when the block ends."""
    if SPARK_CLASS is None:
        raise RuntimeError("spark-class not found: install pyspark (the 'spark' extra)")
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "logs").mkdir(exist_ok=True)
    master_port, web_port, rest_port, worker_web_port = (free_port() for _ in range(4))
    env = spark_env(work_dir)
    master_env = dict(env)
    master_env["SPARK_MASTER_OPTS"] = (
        f"-Dspark.master.rest.enabled=true -Dspark.master.rest.host=127.0.0.1 -Dspark.master.rest.port={rest_port}"
    )
    master_env["SPARK_DAEMON_MEMORY"] = "256m"
    env["SPARK_DAEMON_MEMORY"] = "256m"
    master_url = f"spark://127.0.0.1:{master_port}"
    cluster = SparkCluster(
        master_url=master_url,
        rest_url=f"http://127.0.0.1:{rest_port}",
        web_url=f"http://127.0.0.1:{web_port}",
        rest_port=rest_port,
        work_dir=work_dir,
    )
    procs = [
        _start(
            [
                SPARK_CLASS,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master_port),
                "--webui-port",
                str(web_port),
            ],
            master_env,
            work_dir / "logs" / "master.out",
        )
    ]
    try:
        procs.append(
            _start(
                [
                    SPARK_CLASS,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    str(worker_web_port),
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--work-dir",
                    str(work_dir / "worker"),
                    master_url,
                ],
                env,
                work_dir / "logs" / "worker.out",
            )
        )
        deadline = time.monotonic() + timeout
        while True:
            for proc, name in zip(procs, ("master", "worker")):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"Spark {name} exited: {(work_dir / 'logs' / f'{name}.out').read_text()[-3000:]}"
                    )
            with contextlib.suppress(OSError, ValueError):
                if any(w.get("state") == "ALIVE" for w in cluster.master_state().get("workers", [])):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"Spark standalone cluster not up after {timeout}s (logs in {work_dir / 'logs'})")
            time.sleep(0.3)
        yield cluster
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """One standalone cluster for the whole session (JVMs are slow to start and the cores are shared)."""
    with spark_standalone(tmp_path_factory.mktemp("spark")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def spark_test_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_jar(tmp_path_factory.mktemp("spark-jar"))

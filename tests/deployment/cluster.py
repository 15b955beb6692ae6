"""A real multi-process Airflow on this machine: the "edge nodes" test deployment.

Starts, on 127.0.0.1, a PostgreSQL metadata DB, the API server, the scheduler, the DAG processor, the triggerer and
Edge executor workers (apache-airflow-providers-edge3), each an ``airflow`` process of its own, as a deployment on
edge nodes would run them. The Edge executor was chosen over Celery because its workers need nothing but HTTP to the
API server (no broker to run and secure), which is how edge nodes beside a Hadoop cluster are usually reachable.

Each worker runs in its own process group with ``ZALONI_EDGE_NODE=<name>`` in its environment, so a test can kill
one "node" with everything it runs, and a task can tell which node ran it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.postgres import start_postgres

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    api_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str | None = None

    # -- processes -------------------------------------------------------------------------------------------------
    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,  # its own process group: killing a "node" kills what it runs
        )
        self.processes[name] = proc
        return proc

    def start_worker(self, node: str, queues: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.start(
            f"worker-{node}",
            "edge",
            "worker",
            "-q",
            queues,
            "-c",
            str(concurrency),
            "-H",
            f"edge-{node}",
            "--pid",
            str(self.home / f"worker-{node}.pid"),
            extra_env={"ZALONI_EDGE_NODE": node},
        )

    def kill(self, name: str) -> None:
        """SIGKILL a component and every process it started (a node that loses power).

        Task processes may run in sessions of their own, so the whole process tree is collected first.
        """
        import psutil

        proc = self.processes[name]
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- REST API --------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        if self.token is None:
            self.token = self._login()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def _login(self) -> str:
        req = urllib.request.Request(
            f"{self.api_url}/auth/token",
            data=json.dumps({"username": "admin", "password": self.admin_password()}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return str(json.loads(resp.read())["access_token"])

    def admin_password(self) -> str:
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return str(passwords["admin"])

    def wait_until(self, what: str, check: Any, timeout: float, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None and not name.startswith("worker"):
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            try:
                result = check()
                if result:
                    return result
            except Exception as exc:  # not up yet
                last_error = exc
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")

    def api_up(self) -> bool:
        with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as resp:
            return resp.status == 200


@contextmanager
def edge_cluster(tmp_path: Path, dags_folder: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """PostgreSQL + API server + scheduler + DAG processor + triggerer; workers are started by the test."""
    home = tmp_path / "airflow"
    home.mkdir()
    with start_postgres(dbname="airflow") as pg:
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AIRFLOW__") and not key.startswith("AIRFLOW_CONN_")
        }
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "PYTHONPATH": str(REPO),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "airflow.providers.edge3.executors.EdgeExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                    f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{pg.dbname}"
                ),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__EDGE__API_ENABLED": "True",
                "AIRFLOW__EDGE__API_URL": f"{api_url}/edge_worker/v1/rpcapi",
                "AIRFLOW__EDGE__JOB_POLL_INTERVAL": "1",
                "AIRFLOW__EDGE__HEARTBEAT_INTERVAL": "3",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__ZALONI__LAKE_ROOT": str(tmp_path / "lake"),
                "AIRFLOW__ZALONI__PROGRESS_INTERVAL_SECONDS": "1",
                **(extra_env or {}),
            }
        )
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-3000:]}")
        cluster = Cluster(home=home, env=env, api_url=api_url)
        try:
            cluster.start("api-server", "api-server")
            cluster.start("scheduler", "scheduler")
            cluster.start("dag-processor", "dag-processor")
            cluster.start("triggerer", "triggerer")
            cluster.wait_until("the API server", cluster.api_up, timeout=180)
            yield cluster
        finally:
            cluster.stop_all()

"""Real, multi-process Airflow deployments on 127.0.0.1 for tests: one home for starting, stopping and talking to them.

Each component is an ``airflow`` process of its own (as in a deployment), in its own process group, sharing a
temporary ``AIRFLOW_HOME``. :func:`running_airflow` is the small one of the browser test (SQLite, LocalExecutor,
parallelism 2); ``tests/deployment/cluster.py`` builds the Edge-executor deployment on the same pieces
(:func:`airflow_env`, :class:`AirflowServer`). The simple auth manager generates the ``admin`` password into
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`` when the API server starts.

Processes are stopped by process tree (SIGTERM, then SIGKILL after a grace period) whatever happens in the test,
so no task process outlives it.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

AIRFLOW = str(Path(sys.executable).parent / "airflow")
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AirflowServer:
    """A running Airflow: where it listens, its home, its processes and a tiny REST client."""

    home: Path
    base_url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str | None = None

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.home / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, *args],
                env={**self.env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,  # a process group of its own: stopping it stops its task processes too
            )
        return self.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL one component and every process it started (a node that loses power)."""
        import psutil

        proc = self.processes[name]
        try:
            tree = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            tree = []
        for pid in tree:
            _signal(pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after a short grace.

        Task processes put themselves in process groups of their own (the task supervisor calls ``setpgid``), so
        the process tree is collected first and every process in it is stopped too.
        """
        tree = self._process_tree()
        for pid in tree:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # a test deployment: a short grace, then SIGKILL
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pid in tree:
            _signal_group(pid, signal.SIGKILL)
            _signal(pid, signal.SIGKILL)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
                pass

    def _process_tree(self) -> list[int]:
        import psutil

        pids: list[int] = []
        for proc in self.processes.values():
            pids.append(proc.pid)
            try:
                pids.extend(child.pid for child in psutil.Process(proc.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return pids

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"----- {name} -----\n{self.log(name)}" for name in self.processes)

    def admin_password(self) -> str:
        return self.password("admin")

    def password(self, user: str) -> str:
        """The password the simple auth manager generated for ``user``."""
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(generated.read_text())[user])

    def wait_for(self, what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 1.0) -> T:
        """Call ``check`` until it returns something truthy; fail early, with the logs, if a component died.

        Components named ``worker-*`` may die: tests kill them on purpose.
        """
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            for name, proc in self.processes.items():
                if proc.poll() is not None and not name.startswith("worker-"):
                    raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{self.log(name)}")
            try:
                result = check()
                if result:
                    return result
                last = result
            except (OSError, ValueError, KeyError, TypeError) as exc:  # not up yet
                last = exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
            time.sleep(interval)

    # -- REST API (for what the test checks behind the browser's back) ------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            self._token = self._call("POST", "/auth/token", {"username": "admin", "password": self.admin_password()})[
                "access_token"
            ]
        return self._call(method, path, body, token=self._token)

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def healthy(self) -> bool:
        health = self._call("GET", "/api/v2/monitor/health")
        return bool(health["scheduler"]["status"] == "healthy" and health["dag_processor"]["status"] == "healthy")


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group that ``pid`` leads (nothing if it leads none: never someone else's group)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def airflow_env(
    home: Path, port: int, *, dags_folder: Path, db_uri: str, lake_root: Path, executor: str, **settings: str
) -> dict[str, str]:
    """The environment of every component of a test deployment (only our settings: the test session's own
    ``AIRFLOW__*``, its unit-test mode and DB, must not leak in)."""
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": str(REPO),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__ZALONI__LAKE_ROOT": str(lake_root),
        }
    )
    env.update(settings)
    return env


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


@contextmanager
def running_airflow(
    tmp_path: Path, dags_folder: Path, *, lake_root: Path, extra_env: dict[str, str] | None = None
) -> Iterator[AirflowServer]:
    """Migrate a fresh SQLite DB and start the API server, scheduler and DAG processor; stop them on exit."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    port = free_port()
    env = airflow_env(
        home,
        port,
        dags_folder=dags_folder,
        db_uri=f"sqlite:///{home / 'airflow.db'}",
        lake_root=lake_root,
        executor="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        **(extra_env or {}),
    )
    started = time.monotonic()
    migrate(env)
    print(f"airflow db migrate: {time.monotonic() - started:.1f} s")
    server = AirflowServer(home=home, base_url=env["AIRFLOW__API__BASE_URL"], env=env)
    try:
        server.start("api-server", "api-server")
        server.start("scheduler", "scheduler")
        server.start("dag-processor", "dag-processor")
        server.wait_for("the API server, scheduler and DAG processor", server.healthy, timeout=120)
        print(f"airflow up at {server.base_url} after {time.monotonic() - started:.1f} s (home {home})")
        yield server
    finally:
        server.stop()

"""A real multi-process Airflow on this machine: the "edge nodes" test deployment.

Starts, on 127.0.0.1, a PostgreSQL metadata DB, the API server, the scheduler, the DAG processor, the triggerer and
Edge executor workers (apache-airflow-providers-edge3), each an ``airflow`` process of its own, as a deployment on
edge nodes would run them (built on :mod:`tests.servers.airflow`). The Edge executor was chosen over Celery because
its workers need nothing but HTTP to the API server (no broker to run and secure), which is how edge nodes beside a
Hadoop cluster are usually reachable.

Each worker runs with ``ZALONI_EDGE_NODE=<name>`` in its environment, so a task can tell which node ran it, and
:meth:`AirflowServer.kill` takes a "node" down with everything it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers.airflow import AirflowServer, airflow_env, free_port, migrate
from tests.servers.postgres import start_postgres


class EdgeCluster(AirflowServer):
    def start_worker(self, node: str, queues: str, concurrency: int = 2) -> None:
        """An Edge worker named ``edge-<node>`` serving ``queues`` (comma separated)."""
        self.start(
            f"worker-{node}",
            *("edge", "worker", "-q", queues, "-c", str(concurrency), "-H", f"edge-{node}"),
            *("--pid", str(self.home / f"worker-{node}.pid")),
            extra_env={"ZALONI_EDGE_NODE": node},
        )

    def up(self) -> bool:
        return bool(self._call("GET", "/api/v2/monitor/health"))


@contextmanager
def edge_cluster(
    tmp_path: Path, dags_folder: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[EdgeCluster]:
    """PostgreSQL + API server + scheduler + DAG processor + triggerer; workers are started by the test."""
    home = tmp_path / "airflow"
    home.mkdir()
    with start_postgres(dbname="airflow") as pg:
        port = free_port()
        env = airflow_env(
            home,
            port,
            dags_folder=dags_folder,
            db_uri=f"postgresql+psycopg://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{pg.dbname}",
            lake_root=tmp_path / "lake",
            executor="airflow.providers.edge3.executors.EdgeExecutor",
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE="3",
            AIRFLOW__EDGE__API_ENABLED="True",
            AIRFLOW__EDGE__API_URL=f"http://127.0.0.1:{port}/edge_worker/v1/rpcapi",
            AIRFLOW__EDGE__JOB_POLL_INTERVAL="1",
            AIRFLOW__EDGE__HEARTBEAT_INTERVAL="3",
            # a dead node's task is noticed after 20 s instead of 5 minutes
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="3",
            AIRFLOW__ZALONI__PROGRESS_INTERVAL_SECONDS="1",
            **(extra_env or {}),
        )
        migrate(env)
        cluster = EdgeCluster(home=home, base_url=env["AIRFLOW__API__BASE_URL"], env=env)
        try:
            for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
                cluster.start(component, component)
            cluster.wait_for("the API server", cluster.up, timeout=180)
            yield cluster
        finally:
            cluster.stop()

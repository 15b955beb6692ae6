"""Scale and retries on a real deployment: two Edge executor workers ("edge nodes"), one killed mid-ingest.

Scheduler, API server, DAG processor and triggerer run as separate ``airflow`` processes on a PostgreSQL metadata
DB. Tasks are routed by ``queue``: ``mainframe`` only to node a, ``warehouse`` only to node b, ``shared`` to both.
The test SIGKILLs the node running the shared ingest while it streams, and checks that Airflow retries the task on
the other node and that the lake holds the source rows exactly once.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.deployment.cluster import edge_cluster
from tests.servers.postgres import postgres_unavailable_reason

DAGS = Path(__file__).parent / "dags"


def markers(folder: Path, task_id: str) -> dict[int, str]:
    """try number -> node, from the markers the tasks leave."""
    found = {}
    for path in folder.glob(f"{task_id}.try*.*"):
        _, attempt, node = path.name.split(".")
        found[int(attempt[3:])] = node
    return found


@pytest.mark.timeout(600)
@pytest.mark.skipif(postgres_unavailable_reason() is not None, reason=str(postgres_unavailable_reason()))
def test_killed_edge_worker_task_is_retried_on_the_other_node_and_lands_once(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAGS / "edge_lake.py", dags / "edge_lake.py")
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    with edge_cluster(tmp_path, dags, extra_env={"ZALONI_TEST_MARKERS": str(marker_dir)}) as cluster:
        cluster.start_worker("a", "mainframe,shared")
        cluster.start_worker("b", "warehouse,shared")
        cluster.wait_for("the DAG to be parsed", lambda: cluster.api("GET", "/api/v2/dags/edge_lake"), timeout=180)
        cluster.api("PATCH", "/api/v2/dags/edge_lake", {"is_paused": False})
        run = cluster.api("POST", "/api/v2/dags/edge_lake/dagRuns", {"logical_date": None})
        run_path = f"/api/v2/dags/edge_lake/dagRuns/{run['dag_run_id']}"

        def shared_ingest_started() -> str | None:
            node = markers(marker_dir, "shared_ingest").get(1)
            if node is None and cluster.api("GET", run_path)["state"] == "failed":  # an upstream task failed
                tasks = cluster.api("GET", f"{run_path}/taskInstances")["task_instances"]
                states = {t["task_id"]: t["state"] for t in tasks}
                pytest.fail(f"the DAG run failed before the shared ingest started: {states}")
            return node

        first = cluster.wait_for("the shared ingest to start", shared_ingest_started, timeout=240)
        time.sleep(3)  # let it stream a few batches into staging
        cluster.kill(f"worker-{first}")
        killed_at = time.monotonic()

        state = cluster.wait_for(
            "the DAG run to finish",
            lambda: (s := cluster.api("GET", run_path)["state"]) in ("success", "failed") and s,
            timeout=300,
            interval=2,
        )
        assert state == "success", cluster.log("scheduler")[-4000:]
        recovered_in = time.monotonic() - killed_at

    assert markers(marker_dir, "mainframe_ingest") == {1: "a"}  # queue routing: only node a serves "mainframe"
    assert markers(marker_dir, "warehouse_ingest") == {1: "b"}
    shared = markers(marker_dir, "shared_ingest")
    other = "b" if first == "a" else "a"
    assert shared[1] == first and shared[max(shared)] == other, shared

    lake = Lake(str(tmp_path / "lake"))
    big = DatasetRef("raw", "edge", "big")
    ids = lake.read_table(big)["id"].to_pylist()
    assert len(ids) == 300_000 and len(set(ids)) == 300_000 and min(ids) == 1 and max(ids) == 300_000
    [partition] = lake.partitions(big)
    assert lake.manifest(big, partition)["try_number"] == max(shared)
    assert lake.watermark(big) == 300_000
    assert lake.verify() == []
    print(f"killed node {first}; retried on node {other}; run finished {recovered_in:.0f} s after the kill")

"""A Spark job's output committed through the lake's commit protocol: the example DAG, and the bad cases."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_zaloni.jobs.output import JobOutput
from airflow_zaloni.lake import DatasetRef, Lake, LakeError
from tests.airflow_helpers import REPO, run_dag
from tests.lake_view_data import run_and_task_links, view_client
from tests.servers.spark import use_spark_submit

REF = DatasetRef("refined", "sales", "customer_revenue")


def output(root: Path, run: str = "dag/task/run1/-1") -> JobOutput:
    return JobOutput(Lake(str(root)), REF, "dt=2026-11-25", run_key=run)


def test_files_the_job_wrote_are_committed_with_checksums(lake_root):
    job = output(lake_root)
    staging = Path(job.staging_path(fresh=True))
    # what Spark leaves in a folder: data files, a _SUCCESS marker and .crc side files
    for n in range(2):
        pq.write_table(
            pa.table({"customer": [f"C{n}"], "revenue": [n * 1.5]}), staging / f"part-0000{n}-x.snappy.parquet"
        )
    (staging / "_SUCCESS").write_bytes(b"")
    (staging / ".part-00000-x.snappy.parquet.crc").write_bytes(b"crc")

    task = {"dag_id": "dag", "task_id": "task", "map_index": -1}
    summary = job.commit(run_id="run1", try_number=1, producer="test", source={"system": "spark"}, task=task)

    lake = Lake(str(lake_root))
    assert summary["datasets"][0]["rows"] == 2
    assert lake.read_table(REF, "dt=2026-11-25").column("customer").to_pylist() == ["C0", "C1"]
    manifest = lake.manifest(REF, "dt=2026-11-25")
    assert [f["path"] for f in manifest["files"]] == ["part-00000-x.snappy.parquet", "part-00001-x.snappy.parquet"]
    assert manifest["source"] == {"system": "spark"} and lake.verify([REF]) == []
    assert (manifest["run_id"], manifest["try_number"], manifest["extra"]["airflow"]) == ("run1", 1, task)

    # a later try of the same run (the first died after committing) reports the commit instead of failing
    again = job.commit(run_id="run1", try_number=2, producer="test", source={"system": "spark"})
    assert again["already_committed"] and again["datasets"][0]["rows"] == 2


def test_a_job_that_wrote_nothing_or_mixed_schemas_publishes_nothing(lake_root):
    job = output(lake_root)
    job.staging_path(fresh=True)
    with pytest.raises(LakeError, match=r"the job wrote no Parquet files into .*customer_revenue/_staging/job-"):
        job.commit(run_id="r", try_number=1, producer="test", source={})

    staging = Path(job.staging_path(fresh=True))
    pq.write_table(pa.table({"customer": ["C1"]}), staging / "part-00000.parquet")
    pq.write_table(pa.table({"customer": [1]}), staging / "part-00001.parquet")
    with pytest.raises(LakeError, match=r"part-00001\.parquet has schema"):
        job.commit(run_id="r", try_number=1, producer="test", source={})
    assert Lake(str(lake_root)).partitions(REF) == []


def test_every_try_of_a_run_shares_the_staging_folder_and_a_new_submission_empties_it(lake_root):
    first = Path(output(lake_root).staging_path(fresh=True))
    (first / "part-old.parquet").write_bytes(b"left by a failed job")
    assert Path(output(lake_root).staging_path(fresh=False)) == first  # a reattaching try
    assert (first / "part-old.parquet").exists()
    assert Path(output(lake_root).staging_path(fresh=True)) == first and not any(first.iterdir())
    assert Path(output(lake_root, run="dag/task/run2/-1").staging_path(fresh=False)) != first


@pytest.mark.timeout(240)
def test_example_dag_ingests_refines_with_spark_and_checks(airflow_db, monkeypatch):
    """The example DAG for real: ingest -> spark-submit --master local[2] -> commit -> downstream check."""
    use_spark_submit(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_LOCAL", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    dag_run = run_dag(
        "example_dags/spark_job.py",
        conf={"rows": 3000, "job": str(REPO / "example_dags" / "jobs" / "refine_orders.py")},
        logical_date=datetime(2026, 11, 25, tzinfo=timezone.utc),
    )
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"ingest_orders": "success", "refine_revenue": "success", "check_refined": "success"}

    lake = Lake(os.environ["AIRFLOW__ZALONI__LAKE_ROOT"])
    (partition,) = lake.partitions(REF)
    revenue = lake.read_table(REF, partition)
    raw = lake.read_table(DatasetRef("raw", "demo", "orders"))
    assert sum(revenue.column("orders").to_pylist()) == raw.num_rows == 3000
    assert revenue.num_rows == len(set(raw.column("customer").to_pylist()))
    manifest = lake.manifest(REF, partition)
    assert manifest["producer"].endswith("SparkJobOperator") and manifest["totals"]["rows"] == revenue.num_rows
    assert lake.verify([REF]) == []
    # The partition names the task that committed it, and the Lake view links it to the DAG run and the task.
    task = manifest["extra"]["airflow"]
    assert (task["dag_id"], task["task_id"], task["map_index"]) == ("zaloni_spark_job", "refine_revenue", -1)
    run = f"/dags/zaloni_spark_job/runs/{quote(dag_run.run_id, safe='')}"
    with view_client(lake.root, monkeypatch) as client:
        page = client.get(f"/zaloni/lake/datasets/{REF.key}")
    assert page.status_code == 200, page.text
    assert {("run", run), ("task", f"{run}/tasks/refine_revenue")} <= set(run_and_task_links(page.text))

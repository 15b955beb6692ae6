"""Lake operators run by Airflow (``dag.test()``) against a lake on S3 (moto_server) through an ``aws`` connection."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.triggers.lake import LakeDatasetTrigger
from tests.airflow_helpers import run_dag
from tests.servers.s3 import S3Server

pytestmark = pytest.mark.s3
RAW = DatasetRef("raw", "test", "counter")
TRUSTED = DatasetRef("trusted", "test", "counter")


def test_ingest_sensor_and_promote_through_lake_conn_id(
    airflow_db, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = s3_server.new_root()
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_CONN_ID", s3_server.conn_id)  # for the task that names only the root
    day = datetime(2026, 5, 2, tzinfo=timezone.utc)
    conf = {"lake_root": root, "lake_conn_id": s3_server.conn_id, "upper": 1000}
    dag_run = run_dag("tests/dags/s3_lake.py", dag_id="s3_lake", conf=conf, logical_date=day)
    assert dag_run.state == "success"

    lake = Lake(root, conn_id=s3_server.conn_id)
    assert lake.partitions(RAW) == ["dt=2026-05-01"]
    assert sorted(lake.read_table(RAW)["id"].to_pylist()) == list(range(1, 1001))
    assert sorted(lake.read_table(TRUSTED)["id"].to_pylist()) == list(range(1, 901))
    assert lake.manifest(RAW, "dt=2026-05-01")["run_id"] == dag_run.run_id
    assert lake.verify() == []

    # A re-run of the interval replaces its partitions, in the raw and the trusted zone.
    rerun = run_dag("tests/dags/s3_lake.py", dag_id="s3_lake", conf={**conf, "upper": 600}, logical_date=day)
    assert rerun.state == "success"
    assert sorted(lake.read_table(RAW)["id"].to_pylist()) == list(range(1, 601))
    assert sorted(lake.read_table(TRUSTED)["id"].to_pylist()) == list(range(1, 601))


def test_trigger_reads_the_lake_through_its_connection(s3_server: S3Server) -> None:
    root = s3_server.new_root()
    lake = Lake(root, conn_id=s3_server.conn_id)
    with lake.transaction(run_id="r") as txn:
        import pyarrow as pa

        txn.writer(RAW, "dt=2026-05-01").write_table(pa.table({"id": [1, 2]}))
    trigger = LakeDatasetTrigger(
        lake_root=root,
        lake_conn_id=s3_server.conn_id,
        zone="raw",
        system="test",
        name="counter",
        partition="dt=2026-05-01",
        poll_interval=0.1,
    )

    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    payload = asyncio.run(first())
    assert payload["status"] == "committed" and payload["partition"]["rows"] == 2
    assert LakeDatasetTrigger(**trigger.serialize()[1]).lake_conn_id == s3_server.conn_id

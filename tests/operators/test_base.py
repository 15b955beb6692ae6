"""The ingest base operator run for real by Airflow (``dag.test()``): summary, asset event, partition, re-runs."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.airflow_helpers import run_dag

REF = DatasetRef("raw", "test", "counter")


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    return Lake(str(root))


def xcom_summary(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="land").one()
        value = row.value
    import json

    return json.loads(value) if isinstance(value, str) else value


def asset_events(uri: str) -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return [
            e.extra
            for e in session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri)
        ]


def test_ingest_lands_the_interval_partition_with_summary_and_asset_event(airflow_db, lake: Lake) -> None:
    day = datetime(2026, 3, 2, tzinfo=timezone.utc)
    dag_run = run_dag("tests/dags/counter_ingest.py", conf={"upper": 1200}, logical_date=day)
    assert dag_run.state == "success"
    assert lake.partitions(REF) == ["dt=2026-03-01"]  # the data interval of the run, not the wall clock
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 1201))
    summary = xcom_summary(dag_run)
    assert summary["rows"] == 1200 and summary["partition"] == "dt=2026-03-01" and summary["watermark"] == 1200
    assert summary["dataset"] == "raw/test/counter" and summary["files"] == 1
    extras = asset_events("zaloni://lake/raw/test/counter")
    assert {"partition": "dt=2026-03-01", "rows": 1200}.items() <= extras[-1].items()
    manifest = lake.manifest(REF, "dt=2026-03-01")
    assert manifest["run_id"] == dag_run.run_id and manifest["producer"].endswith("CounterToLakeOperator")
    # The task and its data interval, for the Lake view's links and staleness (two daily intervals).
    assert manifest["extra"]["airflow"] == {
        "dag_id": "counter_ingest",
        "task_id": "land",
        "map_index": -1,
        "data_interval": ["2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00"],
    }


def test_rerun_of_the_same_interval_replaces_and_the_next_one_is_incremental(airflow_db, lake: Lake) -> None:
    day = datetime(2026, 4, 2, tzinfo=timezone.utc)
    run_dag("tests/dags/counter_ingest.py", conf={"upper": 500}, logical_date=day)
    # a re-run of the same interval (new rows have arrived meanwhile) replays its range and replaces the partition
    rerun = run_dag("tests/dags/counter_ingest.py", conf={"upper": 700}, logical_date=day)
    assert rerun.state == "success"
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 701))
    nxt = run_dag(
        "tests/dags/counter_ingest.py", conf={"upper": 900}, logical_date=datetime(2026, 4, 3, tzinfo=timezone.utc)
    )
    assert nxt.state == "success"
    assert sorted(lake.read_table(REF, "dt=2026-04-02")["id"].to_pylist()) == list(range(701, 901))
    assert sorted(lake.read_table(REF)["id"].to_pylist()) == list(range(1, 901))
    assert lake.watermark(REF) == 900


def test_a_source_that_fails_mid_stream_fails_the_task_and_publishes_nothing(airflow_db, lake: Lake) -> None:
    dag_run = run_dag("tests/dags/counter_failing.py", logical_date=datetime(2026, 5, 2, tzinfo=timezone.utc))
    assert dag_run.state == "failed"
    assert lake.partitions(REF) == []
    assert lake.watermark(REF) is None
    staging = Path(lake.dataset_path(REF)) / "_staging"
    assert not staging.exists() or not os.listdir(staging)


def test_fanout_of_mapped_parts_is_committed_once_by_the_commit_task(airflow_db, lake: Lake) -> None:
    fanned = DatasetRef("raw", "test", "fanned")
    dag_run = run_dag("tests/dags/counter_fanout.py", logical_date=datetime(2026, 6, 2, tzinfo=timezone.utc))
    assert dag_run.state == "success"
    assert lake.partitions(fanned) == ["dt=2026-06-01"]
    assert sorted(lake.read_table(fanned)["id"].to_pylist()) == list(range(1, 3001))
    manifest = lake.manifest(fanned, "dt=2026-06-01")
    assert sorted(manifest["extra"]["parts"]) == ["00000", "00001", "00002"]
    assert manifest["producer"].endswith("LakeCommitOperator")
    assert asset_events("zaloni://lake/raw/test/fanned")


def test_openlineage_facets_name_the_source_and_the_lake_datasets(lake: Lake) -> None:
    from tests.dags.counter_ingest import CounterToLakeOperator

    op = CounterToLakeOperator(task_id="land", dataset="counter", upper=10, lake_root=lake.root)
    op.execute({"run_id": "manual__lineage", "data_interval_start": datetime(2026, 7, 1, tzinfo=timezone.utc)})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.outputs] == [(lake.root, "raw/test/counter")]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("test", "counter")]

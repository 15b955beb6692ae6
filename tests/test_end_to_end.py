"""The end-to-end example lake DAG (what ``make demo`` runs), for real with ``dag.test()``."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from tests.airflow_helpers import run_dag


@pytest.mark.timeout(600)
def test_end_to_end_lake_dag_lands_every_source_promotes_and_refines(
    airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    # samples of its own: other example DAGs of the session grow the same demo warehouse and drop folder
    monkeypatch.setenv("ZALONI_DEMO_DIR", str(tmp_path / "samples"))
    monkeypatch.delenv("AIRFLOW_CONN_ZALONI_DEMO_WAREHOUSE", raising=False)
    dag_run = run_dag("example_dags/lake_end_to_end.py", logical_date=datetime(2026, 11, 26, tzinfo=timezone.utc))
    assert dag_run.state == "success"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["land_salesforce"] == states["land_twitter"] == "skipped"  # no connections configured here

    lake = Lake(str(root))
    partition = "dt=2026-11-25"  # the run's data interval, not the wall clock
    rows = {ref.key: len(lake.read_table(ref, partition)) for ref in lake.datasets() if ref.zone != "landing"}
    assert states["publish_spark_promotion"] in ("success", "skipped")
    assert rows["raw/drop/orders"] == 3000
    assert rows["raw/mainframe/customers"] == 200
    assert rows["raw/warehouse/orders"] == 1000
    trusted, quarantined = rows["trusted/warehouse/orders"], rows["trusted/warehouse/orders__quarantine"]
    assert trusted + quarantined == 1000 and 0 < quarantined < 100
    landed = lake.manifest(DatasetRef("landing", "mainframe", "customers"), partition)
    assert landed["files"][0]["bytes"] == Path("example_dags/data/CUSTOMERS.DAT").stat().st_size
    if importlib.util.find_spec("pyspark.sql") is not None:
        revenue = lake.read_table(DatasetRef("refined", "sales", "customer_revenue"), partition)
        assert sum(revenue["orders"].to_pylist()) == 3000
        # the same quality rules run as a Spark job, published in one commit
        passed = rows["trusted/drop/orders"]
        failed = rows["trusted/drop/orders__quarantine"]
        assert passed + failed == 3000 and 0 < failed < 600
        raw = lake.read_table(DatasetRef("raw", "drop", "orders"), partition).to_pylist()
        expected_bad = sum(1 for r in raw if r["amount"] is None or r["amount"] < 5)
        assert failed == expected_bad
        # the manifests of what the Spark job computed name the task that committed it (the Lake view links it)
        for name in ("orders", "orders__quarantine"):
            task = lake.manifest(DatasetRef("trusted", "drop", name), partition)["extra"]["airflow"]
            assert (task["dag_id"], task["task_id"]) == ("zaloni_lake_end_to_end", "publish_spark_promotion")
        refined = lake.manifest(DatasetRef("refined", "sales", "customer_revenue"), partition)["extra"]["airflow"]
        assert refined["task_id"] == "refine_revenue"
    else:
        assert states["refine_revenue"] == "skipped"
    assert lake.verify() == []

    # The next day's run: the producer drops the same files again -- they are recognised and not landed twice,
    # the warehouse brings a new day of orders, the Spark steps have nothing new to do.
    nxt = run_dag("example_dags/lake_end_to_end.py", logical_date=datetime(2026, 11, 27, tzinfo=timezone.utc))
    assert nxt.state == "success"
    assert len(lake.read_table(DatasetRef("raw", "drop", "orders"))) == 3000
    assert len(lake.read_table(DatasetRef("raw", "warehouse", "orders"), "dt=2026-11-26")) == 1000
    assert {ti.task_id: ti.state for ti in nxt.get_task_instances()}["promote_on_spark"] == "skipped"

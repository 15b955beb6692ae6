"""LakePromoteOperator: run for real by Airflow (``dag.test()`` of the example DAG) and called directly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_zaloni.lake import DatasetRef, Lake, partition_for_interval
from airflow_zaloni.operators.promote import LakePromoteOperator
from tests.airflow_helpers import run_dag
from tests.lake_view_data import run_and_task_links, view_client

pytestmark = pytest.mark.timeout(120)
DAG_FILE = "example_dags/lake_promote.py"


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(root))
    return Lake(str(root))


def xcom(dag_run: Any, task_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id).one()
        value = row.value
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


def asset_extras(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [e.extra for e in query.filter(AssetModel.uri == uri)]


def test_example_dag_promotes_orders_and_captures_account_changes(
    airflow_db: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    day2, day3 = datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 3, tzinfo=timezone.utc)
    first = run_dag(DAG_FILE, logical_date=day2)
    assert first.state == "success"
    dag_run = run_dag(DAG_FILE, logical_date=day3)
    assert dag_run.state == "success"
    # The partition every task of a run uses (dag.test() runs are manual: a zero-length interval at the date).
    p2, p3 = (
        partition_for_interval(r.data_interval_start, r.data_interval_end, run_id=r.run_id) for r in (first, dag_run)
    )

    orders, quarantine = DatasetRef("trusted", "demo", "orders"), DatasetRef("trusted", "demo", "orders__quarantine")
    good = lake.read_table(orders, p3)
    bad = lake.read_table(quarantine, p3).to_pylist()
    assert good.num_rows + len(bad) == lake.read_table(orders.with_zone("raw"), p3).num_rows == 40
    assert sorted(r["_dq_failed_rules"][0] for r in bad) == [
        "allowed_values(status)",
        "not_null(order_id, customer_id)",
        "range(amount)",
        "regex(email)",
        "ships_after_order",
    ]

    summary = xcom(dag_run, "promote_orders")
    assert (summary["rows_in"], summary["passed"], summary["quarantined"]) == (40, 35, 5)
    assert summary["failed_by_rule"]["range(amount)"] == 1
    assert summary["dataset_checks_passed"] == {"row_count": True, "freshness(ordered_at)": True}
    manifest = lake.manifest(orders, p3)
    assert manifest is not None and manifest["extra"]["quality"]["rules"]["regex(email)"]["failed"] == 1
    assert manifest["run_id"] == dag_run.run_id
    # The freshness rule's max_age came from a Jinja template ({{ params.max_age }}), rendered by Airflow.
    assert manifest["extra"]["quality"]["checks"]["freshness(ordered_at)"]["max_age_seconds"] == 86400

    extras = asset_extras("zaloni://lake/trusted/demo/orders")
    assert {"partitions": [p3], "rows_in": 40, "passed": 35, "quarantined": 5} in [
        {k: e.get(k) for k in ("partitions", "rows_in", "passed", "quarantined")} for e in extras
    ]

    # Accounts: the second run merged onto the first one's snapshot: 001A kept its newest name (not the stale one
    # that came later in the file); the account created by the first run was deleted by the second.
    d = dag_run.data_interval_start
    accounts = {r["Id"]: r["Name"] for r in lake.read_table(DatasetRef("trusted", "demo", "accounts"), p3).to_pylist()}
    assert accounts == {"001A": f"Acme {d:%d}", f"00{d.day:02d}": f"New {d:%d}"}
    cdc = xcom(dag_run, "promote_accounts")["cdc_counts"]
    assert cdc["base_partition"] == p2 and cdc["deleted"] == 1

    # Each promoted partition names the task that wrote it, as an ingest does, and the Lake view links it to the
    # DAG run and the task.
    written_by = {
        orders: "promote_orders",
        quarantine: "promote_orders",
        DatasetRef("trusted", "demo", "accounts"): "promote_accounts",  # the change-capture snapshot
    }
    for ref, task_id in written_by.items():
        task = lake.manifest(ref, p3)["extra"]["airflow"]
        assert (task["dag_id"], task["task_id"], task["map_index"]) == ("zaloni_lake_promote", task_id, -1)
    run = f"/dags/zaloni_lake_promote/runs/{quote(dag_run.run_id, safe='')}"
    with view_client(lake.root, monkeypatch) as client:
        for ref, task_id in written_by.items():
            page = client.get(f"/zaloni/lake/datasets/{ref.key}")
            assert page.status_code == 200, page.text
            links = run_and_task_links(page.text)
            assert ("run", run) in links and ("task", f"{run}/tasks/{task_id}") in links, links


def context(day: int) -> dict[str, Any]:
    start = datetime(2026, 11, day, tzinfo=timezone.utc)
    return {"data_interval_start": start, "data_interval_end": start + timedelta(days=1), "run_id": f"r{day}"}


def test_threshold_fails_the_task_without_retry_and_publishes_nothing(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    raw = DatasetRef("raw", "shop", "orders")
    with lake.transaction() as txn:
        txn.writer(raw, "dt=2026-11-05").write_table(pa.table({"id": [1, None, None, 4]}))
    op = LakePromoteOperator(
        task_id="p",
        dataset="orders",
        system="shop",
        lake_root=str(lake_root),
        rules=[{"rule": "not_null", "column": "id"}],
        max_quarantined_fraction="0.25",
    )
    with pytest.raises(AirflowFailException, match=r"2 of 4 rows quarantined \(50.00%\)"):
        op.execute(context(5))  # type: ignore[arg-type]
    assert lake.datasets("trusted") == [] or all(not lake.partitions(r) for r in lake.datasets("trusted"))


def test_explicit_partitions_and_target_names(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    raw = DatasetRef("raw", "shop", "orders")
    for day in ("dt=2026-11-01", "dt=2026-11-02"):
        with lake.transaction() as txn:
            txn.writer(raw, day).write_table(pa.table({"id": [1, 2, -1]}))
    op = LakePromoteOperator(
        task_id="p",
        dataset="orders",
        system="shop",
        to_zone="refined",
        target_dataset="orders_clean",
        quarantine_dataset="orders_rejects",
        partitions="dt=2026-11-01, dt=2026-11-02",
        lake_root=str(lake_root),
        rules=[{"rule": "range", "column": "id", "min": 0}],
    )
    summary = op.execute(context(9))  # type: ignore[arg-type]
    assert summary["target"] == "refined/shop/orders_clean" and summary["quarantine"] == "refined/shop/orders_rejects"
    assert lake.partitions(DatasetRef("refined", "shop", "orders_clean")) == ["dt=2026-11-01", "dt=2026-11-02"]
    assert (summary["passed"], summary["quarantined"]) == (4, 2)
    assert [o.uri for o in op.outlets] == ["zaloni://lake/refined/shop/orders_clean"]


def test_change_capture_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="order_by and delete_column need key"):
        LakePromoteOperator(task_id="p", dataset="a", system="s", order_by="ts")


def test_promotion_writes_row_groups_of_the_configured_size(lake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # [zaloni] row_group_bytes bounds the writer's memory; promotion ignored it (its own copy of get_lake)
    monkeypatch.setenv("AIRFLOW__ZALONI__ROW_GROUP_BYTES", str(64 * 1024))
    lake = Lake(str(lake_root))
    raw = DatasetRef("raw", "shop", "orders")
    with lake.transaction() as txn:
        txn.writer(raw, "dt=2026-11-07").write_table(pa.table({"id": pa.array(range(300_000), pa.int64())}))
    op = LakePromoteOperator(task_id="p", dataset="orders", system="shop", lake_root=str(lake_root), rules=[])
    op.execute(context(7))  # type: ignore[arg-type]

    trusted = DatasetRef("trusted", "shop", "orders")
    files = list((lake_root / "trusted" / "shop" / "orders" / "dt=2026-11-07").glob("*.parquet"))
    assert lake.read_table(trusted, "dt=2026-11-07").num_rows == 300_000
    groups = [pq.ParquetFile(f).metadata.row_group(i) for f in files for i in range(pq.ParquetFile(f).num_row_groups)]
    assert len(groups) > 1  # closed at the byte bound, not after 1M rows

"""SqlToLakeOperator and LakeToSqlOperator against a real PostgreSQL server, SQLite and the real lake."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from airflow_zaloni.lake import DatasetRef, Lake
from airflow_zaloni.operators.warehouse import LakeToSqlOperator, SqlToLakeOperator
from airflow_zaloni.sources.base import SourceError
from tests.airflow_helpers import run_dag
from tests.servers.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]
ORDERS = DatasetRef("raw", "warehouse", "orders")


def context(day: int) -> dict[str, Any]:
    start = datetime(2026, 11, day, tzinfo=timezone.utc)
    return {"data_interval_start": start, "data_interval_end": start + timedelta(days=1), "run_id": f"r{day}"}


@pytest.fixture
def pg(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:  # noqa: F811
    with psycopg.connect(postgres_server.uri, autocommit=True) as conn:
        conn.execute(
            """
            DROP TABLE IF EXISTS orders, customers, victims;
            CREATE TABLE orders (
                id bigint PRIMARY KEY, amount numeric(10,2), note text, at timestamptz, wait interval);
            INSERT INTO orders SELECT i, i * 1.5, 'n' || i, timestamptz '2026-11-01' + i * interval '1 hour',
                   i * interval '1 minute'
              FROM generate_series(1, 100) i;
            CREATE TABLE customers (id int PRIMARY KEY, tier text, updated_at timestamp);
            INSERT INTO customers SELECT i, 'bronze', timestamp '2026-11-01' FROM generate_series(1, 5) i;
            CREATE TABLE victims (id int);
            """
        )
    monkeypatch.setenv("AIRFLOW_CONN_WH", postgres_server.airflow_conn_uri())
    return postgres_server


def test_incremental_append_runs_land_new_rows_and_commit_the_watermark(pg: PostgresServer, lake_root: Path) -> None:
    def op() -> SqlToLakeOperator:
        return SqlToLakeOperator(
            task_id="t",
            conn_id="wh",
            table="orders",
            dataset="orders",
            lake_root=str(lake_root),
            incremental_column="id",
            reconcile=True,
        )

    first = op().execute(context(1))  # type: ignore[arg-type]
    assert first["rows"] == 100 and first["watermark"] == 100
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("INSERT INTO orders SELECT i, i, 'late', now(), NULL FROM generate_series(101, 130) i")
    second = op().execute(context(2))  # type: ignore[arg-type]
    assert second["rows"] == 30 and second["watermark"] == 130
    lake = Lake(str(lake_root))
    assert sorted(lake.read_table(ORDERS, "dt=2026-11-02")["id"].to_pylist()) == list(range(101, 131))
    manifest = lake.manifest(ORDERS, "dt=2026-11-02")
    assert manifest is not None
    assert manifest["extra"]["warehouse"]["reconciled_count"] == 30
    assert manifest["extra"]["warehouse"]["engine"] == "adbc"
    # a type without an Arrow mapping lands as text, with the warning in the manifest
    assert manifest["extra"]["warehouse"]["type_warnings"] == [
        "column 'wait': PostgreSQL type interval (oid 1186) has no Arrow mapping; landed as string"
    ]
    assert manifest["source"]["table"] == "orders" and "password" not in json.dumps(manifest)

    empty = op().execute(context(3))  # type: ignore[arg-type]
    assert empty["rows"] == 0 and lake.watermark(ORDERS) == 130  # unchanged
    assert lake.read_table(ORDERS, "dt=2026-11-03").schema.names == ["id", "amount", "note", "at", "wait"]

    rerun = op().execute(context(2))  # a re-run of day 2 replays exactly its range
    assert rerun["rows"] == 30 and lake.watermark(ORDERS) == 130
    assert lake.read_table(ORDERS).num_rows == 130  # every row exactly once across partitions


def test_merge_mode_keeps_a_snapshot_with_the_latest_row_per_key(pg: PostgresServer, lake_root: Path) -> None:
    def run(day: int) -> dict[str, Any]:
        return SqlToLakeOperator(
            task_id="t",
            conn_id="wh",
            table="customers",
            dataset="customers",
            lake_root=str(lake_root),
            incremental_column="updated_at",
            mode="merge",
            merge_key="id",
        ).execute(context(day))  # type: ignore[arg-type]

    assert run(1)["rows"] == 5
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("UPDATE customers SET tier = 'gold', updated_at = '2026-11-02' WHERE id = 2")
        conn.execute("INSERT INTO customers VALUES (6, 'silver', '2026-11-02')")
    assert run(2)["rows"] == 6
    lake = Lake(str(lake_root))
    ref = DatasetRef("raw", "warehouse", "customers")
    snapshot = {r["id"]: r["tier"] for r in lake.read_table(ref, "dt=2026-11-02").to_pylist()}
    assert snapshot == {1: "bronze", 2: "gold", 3: "bronze", 4: "bronze", 5: "bronze", 6: "silver"}
    manifest = lake.manifest(ref, "dt=2026-11-02")
    assert manifest is not None and manifest["extra"]["warehouse"]["changed_rows"] == 2
    assert lake.watermark(ref) == "2026-11-02T00:00:00.000000"


def test_wrong_password_fails_and_publishes_nothing(
    pg: PostgresServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH", pg.airflow_conn_uri(password="wrong"))
    op = SqlToLakeOperator(task_id="t", conn_id="wh", table="orders", dataset="orders", lake_root=str(lake_root))
    with pytest.raises(SourceError, match="password authentication failed"):
        op.execute(context(1))  # type: ignore[arg-type]
    assert Lake(str(lake_root)).partitions(ORDERS) == []


def test_templated_fields_cannot_inject_sql(
    pg: PostgresServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, tmp_path: Path
) -> None:
    """A table name from ``dag_run.conf`` is rendered into the operator, then quoted, never executed."""
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    dag_file = tmp_path / "warehouse_injection.py"
    dag_file.write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_zaloni.operators.warehouse import SqlToLakeOperator\n"
        "with DAG('warehouse_injection', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        "    SqlToLakeOperator(task_id='land', conn_id='wh', dataset='orders',\n"
        "        table=\"{{ dag_run.conf['table'] }}\", incremental_column=\"{{ dag_run.conf['column'] }}\")\n"
    )
    evil = {"table": 'orders"; DROP TABLE victims; --', "column": "id"}
    run = run_dag(dag_file, conf=evil)
    assert run.state == "failed"
    with psycopg.connect(pg.uri) as conn:
        assert conn.execute("SELECT to_regclass('victims')").fetchone() == ("victims",)
    assert Lake(str(lake_root)).partitions(ORDERS) == []
    run = run_dag(dag_file, conf={"table": "orders", "column": "id"})  # the same DAG with honest input lands
    assert run.state == "success"
    assert Lake(str(lake_root)).read_table(ORDERS).num_rows == 100


def test_fanout_parts_on_mapped_tasks_are_published_by_one_commit(
    pg: PostgresServer, lake_root: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    dag_file = tmp_path / "warehouse_fanout.py"
    dag_file.write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_zaloni.operators.commit import LakeCommitOperator\n"
        "from airflow_zaloni.operators.warehouse import SqlSplitPlanOperator, SqlToLakeOperator\n"
        "with DAG('warehouse_fanout', schedule=None, start_date=datetime(2026, 1, 1)):\n"
        "    plan = SqlSplitPlanOperator(task_id='plan', conn_id='wh', table='orders', split_column='id',\n"
        "        num_parts=3, dataset='orders', incremental_column='id')\n"
        "    parts = SqlToLakeOperator.partial(task_id='part', conn_id='wh', table='orders', dataset='orders',\n"
        "        incremental_column='id', reconcile=True, fanout=True).expand(split=plan.output)\n"
        "    parts >> LakeCommitOperator(task_id='commit', parts_task_id='part', dataset='orders',\n"
        "        system='warehouse')\n"
    )
    run = run_dag(dag_file)
    assert run.state == "success"
    lake = Lake(str(lake_root))
    (partition,) = lake.partitions(ORDERS)
    assert sorted(lake.read_table(ORDERS)["id"].to_pylist()) == list(range(1, 101))
    manifest = lake.manifest(ORDERS, partition)
    assert manifest is not None and len(manifest["extra"]["parts"]) == 3
    assert lake.watermark(ORDERS) == 100


def test_lake_to_sql_upserts_into_postgres_with_copy_and_replaces_in_sqlite(
    pg: PostgresServer, lake_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqlToLakeOperator(task_id="t", conn_id="wh", table="orders", dataset="orders", lake_root=str(lake_root)).execute(
        context(1)
    )  # type: ignore[arg-type]
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders_copy (LIKE orders INCLUDING ALL)")
        conn.execute("INSERT INTO orders_copy VALUES (1, 0, 'stale', now()), (1000, 0, 'kept', now())")
        assert conn.execute("SELECT wait FROM orders WHERE id = 2").fetchone() == (timedelta(minutes=2),)
    out = LakeToSqlOperator(
        task_id="o",
        conn_id="wh",
        table="orders_copy",
        dataset="orders",
        lake_root=str(lake_root),
        mode="upsert",
        key="id",
    ).execute({})  # type: ignore[arg-type]
    assert out["rows"] == 100 and out["partition"] == "dt=2026-11-01"
    with psycopg.connect(pg.uri) as conn:
        assert conn.execute("SELECT count(*), sum(amount) FROM orders_copy").fetchone() == (101, 7575)
        assert conn.execute("SELECT note, wait FROM orders_copy WHERE id = 1").fetchone() == (
            "n1",
            timedelta(minutes=1),
        )

    monkeypatch.setenv("AIRFLOW_CONN_MART", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "mart.db")}))
    for _ in range(2):  # replace twice: the second run swaps the rows, it does not add to them
        LakeToSqlOperator(
            task_id="s", conn_id="mart", table="orders", dataset="orders", lake_root=str(lake_root), mode="replace"
        ).execute({})  # type: ignore[arg-type]
    with sqlite3.connect(tmp_path / "mart.db") as db:
        assert db.execute("SELECT count(*), sum(amount) FROM orders").fetchone() == (100, 7575)


def test_example_dag_runs_on_its_sqlite_warehouse(
    airflow_db: Path, airflow_home: Path, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__ZALONI__LAKE_ROOT", str(lake_root))
    warehouse = airflow_home / "demo_warehouse.sqlite"  # shared with the end-to-end example: start and leave it empty
    warehouse.unlink(missing_ok=True)
    try:
        run = run_dag(REPO / "example_dags" / "warehouse_ingest.py")
        assert run.state == "success"
        with sqlite3.connect(warehouse) as db:
            assert db.execute("SELECT count(*) FROM orders_from_lake").fetchone() == (1000,)
    finally:
        warehouse.unlink(missing_ok=True)
    lake = Lake(str(lake_root))
    orders = lake.read_table(ORDERS)
    assert orders.num_rows == 1000
    customers = lake.read_table(DatasetRef("raw", "warehouse", "customers"))
    assert customers.num_rows == 50
    fanout = lake.read_table(DatasetRef("raw", "warehouse", "orders_fanout"))
    assert sorted(fanout["order_id"].to_pylist()) == sorted(orders["order_id"].to_pylist())

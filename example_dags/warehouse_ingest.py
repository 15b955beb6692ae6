"""Warehouse into the lake and back out: incremental orders, a merge-key customer snapshot, an export.

It also shows the fan-out across workers: ``SqlSplitPlanOperator`` plans ranges, a mapped ``SqlToLakeOperator``
prepares one part per range, and ``LakeCommitOperator`` publishes all parts in one commit.

The warehouse here is a SQLite file that the first task creates (and grows on every run) from generated rows, so
the DAG runs with no setup; its connection ``zaloni_demo_warehouse`` is defined by this file unless one exists.
Against a real warehouse, point ``conn_id`` at any connection whose hook is a DbApiHook -- PostgreSQL (binary COPY
through ADBC), MySQL, SQL Server, Oracle, Snowflake, Trino, ... -- and nothing else changes::

    SqlToLakeOperator(
        task_id="land_orders",
        conn_id="dwh_postgres",
        table="sales.orders",
        dataset="orders",
        incremental_column="order_id",     # only rows above the committed watermark
        split_column="order_id",           # read by 4 connections at once
        num_splits=4,
        reconcile=True,                    # COUNT(*) under the same predicate must match
    )
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_zaloni.operators.commit import LakeCommitOperator
from airflow_zaloni.operators.warehouse import LakeToSqlOperator, SqlSplitPlanOperator, SqlToLakeOperator

CONN_ID = "zaloni_demo_warehouse"


def demo_database() -> Path:
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return home / "demo_warehouse.sqlite"


# The demo's own connection; a connection of that id defined in Airflow takes precedence.
os.environ.setdefault(
    f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(demo_database())})
)


with DAG(
    dag_id="zaloni_warehouse_ingest",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["zaloni", "dca", "warehouse"],
    doc_md=__doc__,
):

    @task
    def grow_warehouse(data_interval_start: datetime | None = None) -> dict[str, int]:
        """Add a day of orders and change a few customers (deterministic per interval, so re-runs agree)."""
        day = (data_interval_start or datetime(2026, 11, 1)).replace(tzinfo=None)
        with sqlite3.connect(demo_database()) as db:
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS customers (
                    customer_id INTEGER PRIMARY KEY, name TEXT, tier TEXT, updated_at TIMESTAMP);
                CREATE TABLE IF NOT EXISTS orders (
                    order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(10,2), status TEXT,
                    ordered_at TIMESTAMP, paid BOOLEAN);
                """
            )
            stamp = day.strftime("%Y-%m-%d %H:%M:%S")
            db.executemany(
                "INSERT OR IGNORE INTO customers VALUES (?, ?, 'bronze', ?)",
                [(c, f"customer {c}", stamp) for c in range(1, 51)],
            )
            db.execute(  # a tenth of the customers change tier each day
                "UPDATE customers SET tier = ?, updated_at = ? WHERE customer_id % 10 = ?",
                (("gold", "silver", "bronze")[day.day % 3], stamp, day.day % 10),
            )
            first = day.toordinal() * 1000
            db.executemany(
                "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        first + i,
                        1 + i % 50,
                        f"{(i * 37) % 10000 / 100:.2f}",
                        ("new", "shipped", "returned")[i % 3],
                        (day + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
                        i % 4 != 0,
                    )
                    for i in range(1, 1001)
                ],
            )
            return {"orders": db.execute("SELECT count(*) FROM orders").fetchone()[0]}

    land_orders = SqlToLakeOperator(
        task_id="land_orders",
        conn_id=CONN_ID,
        table="orders",
        dataset="orders",
        incremental_column="order_id",
        split_column="order_id",
        num_splits=2,
        reconcile=True,
    )
    snapshot_customers = SqlToLakeOperator(
        task_id="snapshot_customers",
        conn_id=CONN_ID,
        table="customers",
        dataset="customers",
        incremental_column="updated_at",
        mode="merge",
        merge_key="customer_id",
    )
    export_orders = LakeToSqlOperator(
        task_id="export_orders",
        conn_id=CONN_ID,
        table="orders_from_lake",
        dataset="orders",
        mode="upsert",
        key="order_id",
    )

    # The same orders read across workers: one range per mapped task, published by one commit.
    plan = SqlSplitPlanOperator(
        task_id="plan_order_parts",
        conn_id=CONN_ID,
        table="orders",
        split_column="order_id",
        num_parts=3,
        dataset="orders_fanout",
        incremental_column="order_id",
    )
    parts = SqlToLakeOperator.partial(
        task_id="land_order_parts",
        conn_id=CONN_ID,
        table="orders",
        dataset="orders_fanout",
        incremental_column="order_id",
        fanout=True,
    ).expand(split=plan.output)
    commit = LakeCommitOperator(
        task_id="commit_order_parts", parts_task_id="land_order_parts", dataset="orders_fanout", system="warehouse"
    )

    grown = grow_warehouse()
    grown >> [land_orders, snapshot_customers, plan]
    land_orders >> export_orders
    parts >> commit

"""Warehouse into the lake and back out: incremental orders, a merge-key customer snapshot, an export.

It also shows the fan-out across workers: ``SqlSplitPlanOperator`` plans ranges, a mapped ``SqlToLakeOperator``
prepares one part per range, and ``LakeCommitOperator`` publishes all parts in one commit.

The warehouse here is a SQLite file that the first task creates (and grows on every run) from generated rows
(``demo_samples.py``), so the DAG runs with no setup; its connection ``zaloni_demo_warehouse`` is defined there
unless one exists.
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

from datetime import datetime

from airflow.sdk import DAG, task
from demo_samples import WAREHOUSE_CONN_ID, define_demo_connections, grow_warehouse, warehouse_path

from airflow_zaloni.operators.commit import LakeCommitOperator
from airflow_zaloni.operators.warehouse import LakeToSqlOperator, SqlSplitPlanOperator, SqlToLakeOperator

CONN_ID = WAREHOUSE_CONN_ID
define_demo_connections()


with DAG(
    dag_id="zaloni_warehouse_ingest",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["zaloni", "dca", "warehouse"],
    doc_md=__doc__,
):

    @task
    def grow_demo_warehouse(data_interval_start: datetime | None = None) -> dict[str, int]:
        """Add a day of orders and change a few customers (deterministic per interval, so re-runs agree)."""
        return grow_warehouse(warehouse_path(), data_interval_start or datetime(2026, 11, 1))

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

    grown = grow_demo_warehouse()
    grown >> [land_orders, snapshot_customers, plan]
    land_orders >> export_orders
    parts >> commit
